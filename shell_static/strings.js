/**
 * User-visible text of the desktop shell, in one plain object so that a translation can
 * replace it. Placeholders such as `{count}` are filled in by `format`.
 */
export const STRINGS = {
  desktopLabel: "Desktop",
  taskbarLabel: "Taskbar",
  launcherButton: "Apps",
  launcherMenuLabel: "Apps",
  launcherEmpty: "No apps are installed for you.",
  launcherItemWithType: "{app}: {window}",
  minimize: "Minimize",
  maximize: "Maximize",
  restore: "Restore",
  close: "Close",
  windowKeys: "Arrow keys move the window. Shift and the arrow keys resize it.",
  signOut: "Sign out",
  signedInAs: "{user}, {tenant}",
  badgeLabel: "{count} new",
  notificationsLabel: "Notifications",
  dismissNotification: "Dismiss notification",
  connectionOpen: "Live updates connected",
  connectionConnecting: "Connecting to live updates…",
  connectionOffline: "Live updates disconnected, reconnecting…",
  errorTitle: "Something went wrong",
  appsLoadFailed: "The app list could not be loaded. Reload the page to try again.",
  layoutLoadFailed:
    "Your saved windows could not be loaded. Changes made now will not be saved, so that the saved layout is kept. Reload the page to try again.",
  layoutSaveFailed: "Your window layout could not be saved: {reason}",
  windowUnavailable: "This window is not available to you: {app} / {window}.",
  windowLimit: "At most {max} windows can be open. Close one and try again.",
  windowInvalidUrl: "The app {app} has an invalid address for the window {window}.",
};

/** Fills `{name}` placeholders in `template` with the matching entries of `values`. */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (placeholder, name) =>
    name in values ? String(values[name]) : placeholder,
  );
}
