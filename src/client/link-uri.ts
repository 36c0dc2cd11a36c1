/**
 * What the new device's QR code carries (docs/design/devices-v2.md §6.1):
 * `e2ee-chat:link?user=alice&code=417-K7QM-9TZC`. The code is the one printed beside it, so the QR code
 * and the typed code are one way in with one set of security figures. Runtime-neutral: the terminal
 * draws it today, the browser and phone clients will read it later.
 */
import { formatLinkCode, type LinkCode } from '../e2ee/link/link-code.js';

export const LINK_URI_PREFIX = 'e2ee-chat:link';

/**
 * The link URI of `username` and `code`. The code is written in its canonical printed form
 * (formatLinkCode refuses anything else). Both values are percent-encoded: a username that passed
 * USERNAME_PATTERN needs none, but the URI must stay one well-formed query whatever a caller hands in
 * (no `&` or `#` could add or hide a member).
 */
export function linkUri(username: string, code: LinkCode): string {
  return `${LINK_URI_PREFIX}?user=${encodeURIComponent(username)}&code=${encodeURIComponent(formatLinkCode(code))}`;
}
