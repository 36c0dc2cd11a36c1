/** KDF_RK(rk, dh_out) of the Double Ratchet spec §5.2: HKDF-SHA-256 with rk as salt and dh_out as IKM. */
import type { Bytes } from '../../crypto/bytes.js';
import { hkdfSha256 } from '../../crypto/hkdf.js';
import { ROOT_KDF_INFO, ROOT_KDF_OUTPUT_LENGTH } from './constants.js';

export function kdfRootKey(rootKey: Bytes, dhOutput: Bytes): { rootKey: Bytes; chainKey: Bytes } {
  const okm = hkdfSha256(dhOutput, rootKey, ROOT_KDF_INFO, ROOT_KDF_OUTPUT_LENGTH);
  dhOutput.fill(0);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
}
