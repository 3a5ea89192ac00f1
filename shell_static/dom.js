/** DOM helpers shared by the shell components. None of them keep state. */

/**
 * Creates an element with attributes, text and children.
 *
 * `text` is set through textContent, so markup in it shows as text. Attributes whose
 * value is null or undefined are left out. Styles go through the CSSOM elsewhere, never
 * through a `style` attribute, which a Content-Security-Policy without 'unsafe-inline'
 * would block.
 */
export function createElement(tagName, { className = "", attributes = {}, text = null, children = [] } = {}) {
  const element = document.createElement(tagName);
  if (className) element.className = className;
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  if (text !== null) element.textContent = text;
  element.append(...children);
  return element;
}

/** Creates a `type="button"` button, which never submits a surrounding form. */
export function createButton({ className = "", label = null, text = null, attributes = {}, children = [] } = {}) {
  return createElement("button", {
    className,
    text,
    children,
    attributes: { type: "button", "aria-label": label, ...attributes },
  });
}

/**
 * Creates the icon of an app: its image when `src` is set, else a tile with the first
 * letter of its name, coloured by a hash of the name so that apps stay distinguishable.
 */
export function createAppIcon(src, name, className = "mp-app-icon") {
  if (src) {
    const image = createElement("img", { className, attributes: { alt: "", decoding: "async", draggable: "false" } });
    image.src = src;
    return image;
  }
  const tile = createElement("span", { className: `${className} mp-app-icon-letter`, attributes: { "aria-hidden": "true" } });
  tile.textContent = (name.trim()[0] || "?").toUpperCase();
  tile.style.setProperty("--mp-icon-hue", String(hashString(name) % 360));
  return tile;
}

/** Returns a small non-negative integer hash of `text` (not for security). */
export function hashString(text) {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash;
}

export function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}
