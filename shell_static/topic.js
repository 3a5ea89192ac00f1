/**
 * Event topic subscriptions, shared by the shell and the app SDK.
 *
 * A subscription is either an exact topic ("tickets.created") or a prefix ending in
 * ".*" ("tickets.*"). A prefix matches every topic that starts with the prefix and a
 * dot, at any depth ("tickets.comment.added"), but not the bare prefix ("tickets").
 */

const MAX_PATTERN_LENGTH = 200;

/** Returns why `pattern` is not a valid subscription, or null when it is valid. */
export function describeInvalidPattern(pattern) {
  if (typeof pattern !== "string" || pattern.length === 0) {
    return `subscription must be a non-empty string, got ${JSON.stringify(pattern)}`;
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `subscription is longer than ${MAX_PATTERN_LENGTH} characters`;
  }
  if (/\s/.test(pattern)) return `subscription ${JSON.stringify(pattern)} contains whitespace`;
  const star = pattern.indexOf("*");
  if (star !== -1 && (star !== pattern.length - 1 || !pattern.endsWith(".*") || pattern.length < 3)) {
    return `subscription ${JSON.stringify(pattern)} is invalid: use a topic or a prefix ending in ".*", such as "tickets.*"`;
  }
  return null;
}

/** Returns whether `topic` matches the subscription `pattern`. */
export function topicMatches(pattern, topic) {
  if (pattern.endsWith(".*")) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}
