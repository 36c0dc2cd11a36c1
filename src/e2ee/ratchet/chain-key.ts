/** KDF_CK(ck) of the Double Ratchet spec §5.2: HMAC-SHA-256 keyed by ck over the constants 0x01 / 0x02. */
import type { Bytes } from '../../crypto/bytes.js';
import { hmacSha256 } from '../../crypto/hmac.js';
import { CHAIN_KDF_CHAIN_KEY_INPUT, CHAIN_KDF_MESSAGE_KEY_INPUT } from './constants.js';

export function kdfChainKey(chainKey: Bytes): { chainKey: Bytes; messageKey: Bytes } {
  return { messageKey: hmacSha256(chainKey, CHAIN_KDF_MESSAGE_KEY_INPUT), chainKey: hmacSha256(chainKey, CHAIN_KDF_CHAIN_KEY_INPUT) };
}
