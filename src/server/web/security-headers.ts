/**
 * The headers every response of the web app carries (src/server/web/web-route.ts). The page is the
 * place an attacker would most like to run code, because it holds the user's keys: the policy allows
 * only the page's own files, its own origin for the relay and blobs, and nothing inline.
 */

/**
 * - default-src 'self': anything not named below comes from this origin only.
 * - script-src 'self': no inline script, no eval (zod runs jitless in the page for this), no other origin.
 * - connect-src 'self': Socket.IO (polling and WebSocket; CSP 3 lets 'self' match ws: of the same host)
 *   and /blobs/ requests go to the relay that served the page, nowhere else.
 * - style-src 'self': one stylesheet file, no style attribute or element.
 * - img-src 'self' data: blob: kept as briefed for images a later step draws (QR codes, previews of files
 *   decrypted in the page as blob: URLs); nothing here uses them yet.
 * - object-src 'none', base-uri 'none': no plugins, no <base> to redirect relative URLs.
 * - frame-ancestors 'none': no other page may frame this one (clickjacking).
 * - form-action 'none': forms are handled in script and never submitted anywhere.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Powerful features the app does not use, denied to it and to anything it could embed. Only names that
 * Chromium knows: an unknown one is a console warning on every load.
 */
export const PERMISSIONS_POLICY = [
  'accelerometer',
  'autoplay',
  'camera',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'geolocation',
  'gyroscope',
  'hid',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'picture-in-picture',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'usb',
  'xr-spatial-tracking',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  // Files are what their content-type says: a blob or an upload is never run as script or style.
  'x-content-type-options': 'nosniff',
  // The page's address (which could name a conversation one day) goes nowhere.
  'referrer-policy': 'no-referrer',
  // A window this page opens, or that opened it, gets no handle on it (no cross-window tampering).
  'cross-origin-opener-policy': 'same-origin',
  // Other origins cannot embed these files (the bundle, the page) as resources.
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': PERMISSIONS_POLICY,
  // frame-ancestors says the same to current browsers; this says it to those that predate CSP 2.
  'x-frame-options': 'DENY',
};
