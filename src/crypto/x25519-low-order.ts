/**
 * Whether an X25519 public key is of low order (docs/PROTOCOL.md §14.1): a u-coordinate P for which
 * X25519(s, P) is 32 zero bytes. X25519 clamps every secret to a multiple of 8 (RFC 7748 §5), so this
 * holds for every secret or for none, and one DH with a fixed secret tells. It is the same test the
 * server applies to uploaded prekeys and every client applies to a bundle (an all-zero DH output is
 * refused), made synchronous so a decoder can apply it: the native backend when one is installed, else
 * @noble/curves, both of which refuse a low-order peer.
 */
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { nativeCrypto, type NativeCrypto, type NativePrivateKey } from './native.js';
import { X25519_KEY_LENGTH } from './x25519.js';

/** The probe's secret: public knowledge and any value would do, since only the all-zero output matters. */
const PROBE_SECRET = new Uint8Array(X25519_KEY_LENGTH).fill(0x5a);

let probe: { backend: NativeCrypto; handle: NativePrivateKey } | undefined;

function nativeProbe(backend: NativeCrypto): NativePrivateKey {
  if (probe?.backend !== backend) probe = { backend, handle: backend.x25519Import(PROBE_SECRET).handle };
  return probe.handle;
}

function allZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

/** True for a low-order key in any of its encodings (bit 255 set, or u ≥ p); throws only on a wrong length. */
export function isLowOrderX25519Key(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== X25519_KEY_LENGTH) throw new RangeError('"publicKey" expected Uint8Array of length 32');
  const backend = nativeCrypto();
  try {
    const shared = backend
      ? backend.x25519Derive(nativeProbe(backend), backend.x25519ImportPublic(publicKey))
      : nobleX25519.getSharedSecret(PROBE_SECRET, publicKey);
    return allZero(shared);
  } catch {
    // Both backends refuse a low-order peer by throwing rather than returning zeros.
    return true;
  }
}
