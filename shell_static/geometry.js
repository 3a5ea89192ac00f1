/**
 * Window geometry arithmetic. A geometry is `{x, y, width, height}` in whole CSS pixels,
 * relative to the top left corner of the desktop area (the viewport above the taskbar).
 * An area is `{width, height}`.
 */
import { clamp } from "./dom.js";

/** Height of a window's title bar in CSS pixels. desktop.js sets it as --mp-titlebar-height. */
export const TITLE_BAR_HEIGHT = 36;

/** Width of title bar that a drag keeps inside the area, so the window can be grabbed again. */
export const MIN_VISIBLE_WIDTH = 96;

/** Minimum size of any window, whatever size its app requests. */
export const ABSOLUTE_MIN_SIZE = Object.freeze({ width: 160, height: 100 });

/** Offset between cascaded new windows, and the position of the first one. */
const CASCADE_STEP = 30;
const CASCADE_ORIGIN = 32;

export function roundGeometry({ x, y, width, height }) {
  return { x: Math.round(x), y: Math.round(y), width: Math.round(width), height: Math.round(height) };
}

export function sameGeometry(a, b) {
  return a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height;
}

/** Returns the effective minimum size: the app's `min_size`, but never below ABSOLUTE_MIN_SIZE. */
export function effectiveMinSize(minSize) {
  return {
    width: Math.max(ABSOLUTE_MIN_SIZE.width, Number(minSize?.width) || 0),
    height: Math.max(ABSOLUTE_MIN_SIZE.height, Number(minSize?.height) || 0),
  };
}

/**
 * Moves `start` by (dx, dy). The left and top edges stay inside the area, so x and y are
 * never negative, and at least MIN_VISIBLE_WIDTH of the title bar stays inside on the
 * right and the whole title bar at the bottom.
 */
export function moveGeometry(start, dx, dy, area) {
  return roundGeometry({
    ...start,
    x: clamp(start.x + dx, 0, Math.max(0, area.width - MIN_VISIBLE_WIDTH)),
    y: clamp(start.y + dy, 0, Math.max(0, area.height - TITLE_BAR_HEIGHT)),
  });
}

/**
 * Resizes `start` by dragging `edge` ("n", "se", ...) by (dx, dy). The opposite edges
 * stay put, the size never drops below `minSize`, and the dragged edges stay inside the area.
 */
export function resizeGeometry(start, edge, dx, dy, minSize, area) {
  let { x, y, width, height } = start;
  const right = start.x + start.width;
  const bottom = start.y + start.height;

  if (edge.includes("e")) {
    width = clamp(start.width + dx, minSize.width, Math.max(minSize.width, area.width - start.x));
  }
  if (edge.includes("w")) {
    x = clamp(start.x + dx, Math.min(0, right - minSize.width), right - minSize.width);
    width = right - x;
  }
  if (edge.includes("s")) {
    height = clamp(start.height + dy, minSize.height, Math.max(minSize.height, area.height - start.y));
  }
  if (edge.includes("n")) {
    y = clamp(start.y + dy, Math.min(0, bottom - minSize.height), bottom - minSize.height);
    height = bottom - y;
  }
  return roundGeometry({ x, y, width, height });
}

/**
 * Fits `geometry` into the area after the viewport changed or a layout was restored.
 * The window shrinks to the area's width and height (not below `minSize`) and moves so
 * that its whole title bar is inside the area whenever the area is wide enough.
 */
export function fitGeometry(geometry, minSize, area) {
  const width = clamp(geometry.width, minSize.width, Math.max(minSize.width, area.width));
  const height = clamp(geometry.height, minSize.height, Math.max(minSize.height, area.height));
  return roundGeometry({
    x: clamp(geometry.x, 0, Math.max(0, area.width - width)),
    y: clamp(geometry.y, 0, Math.max(0, area.height - TITLE_BAR_HEIGHT)),
    width,
    height,
  });
}

/**
 * Returns the geometry of a new window of `size`: the first cascade slot whose corner no
 * open window already occupies, counting from `startSlot`. Slots run diagonally from the
 * top left and wrap when a window would leave the area. Returns `{geometry, slot}`.
 */
export function cascadeGeometry(size, startSlot, occupied, area) {
  const room = Math.min(area.width - size.width, area.height - size.height) - CASCADE_ORIGIN;
  const slotCount = Math.max(1, Math.floor(room / CASCADE_STEP) + 1);
  const occupiedCorners = new Set(occupied.map(({ x, y }) => `${x},${y}`));
  let slot = startSlot % slotCount;
  for (let tried = 0; tried < slotCount; tried++) {
    const position = CASCADE_ORIGIN + slot * CASCADE_STEP;
    if (!occupiedCorners.has(`${position},${position}`)) break;
    slot = (slot + 1) % slotCount;
  }
  const position = CASCADE_ORIGIN + slot * CASCADE_STEP;
  return { geometry: roundGeometry({ x: position, y: position, ...size }), slot };
}
