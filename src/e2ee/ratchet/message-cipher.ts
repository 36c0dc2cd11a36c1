/**
 * ENCRYPT / DECRYPT of the Double Ratchet spec §5.2 (the CBC + HMAC option):
 *   HKDF-SHA-256(IKM = mk, salt = 32 zero bytes, info = MESSAGE_KDF_INFO) -> 80 bytes =
 *     encryption key (32) || authentication key (32) || IV (16)
 *   ciphertext = AES-256-CBC(encryption key, IV, PKCS#7(plaintext))
 *   output     = ciphertext || HMAC-SHA-256(authentication key, associated_data || ciphertext)
 * where associated_data = CONCAT(AD, header). DECRYPT checks the full tag in constant time before it
 * touches the CBC padding, and throws on any failure; callers turn that into DecryptionFailedError.
 */
import { concatBytes, wipe, type Bytes } from '../../crypto/bytes.js';
import { aes256CbcDecrypt, aes256CbcEncrypt } from '../../crypto/aes-cbc.js';
import { hkdfSha256 } from '../../crypto/hkdf.js';
import { hmacSha256, hmacSha256Verify } from '../../crypto/hmac.js';
import { MAC_LENGTH, MESSAGE_KDF_INFO, MESSAGE_KDF_OUTPUT_LENGTH, MESSAGE_KDF_SALT } from './constants.js';

function deriveMessageKeys(messageKey: Uint8Array): { encKey: Bytes; authKey: Bytes; iv: Bytes; okm: Bytes } {
  const okm = hkdfSha256(messageKey, MESSAGE_KDF_SALT, MESSAGE_KDF_INFO, MESSAGE_KDF_OUTPUT_LENGTH);
  return { encKey: okm.subarray(0, 32), authKey: okm.subarray(32, 64), iv: okm.subarray(64, 80), okm };
}

export function encryptWithMessageKey(messageKey: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Bytes {
  const { encKey, authKey, iv, okm } = deriveMessageKeys(messageKey);
  try {
    const ciphertext = aes256CbcEncrypt(encKey, iv, plaintext);
    return concatBytes(ciphertext, hmacSha256(authKey, associatedData, ciphertext));
  } finally {
    wipe(okm);
  }
}

export class MessageAuthenticationError extends Error {
  constructor() {
    super('message authentication failed');
    this.name = 'MessageAuthenticationError';
  }
}

/** `body` = ciphertext || tag. */
export function decryptWithMessageKey(messageKey: Uint8Array, body: Uint8Array, associatedData: Uint8Array): Bytes {
  if (body.length < MAC_LENGTH + 16) throw new MessageAuthenticationError();
  const ciphertext = body.subarray(0, body.length - MAC_LENGTH);
  const tag = body.subarray(body.length - MAC_LENGTH);
  const { encKey, authKey, iv, okm } = deriveMessageKeys(messageKey);
  try {
    if (!hmacSha256Verify(authKey, tag, associatedData, ciphertext)) throw new MessageAuthenticationError();
    return aes256CbcDecrypt(encKey, iv, ciphertext);
  } finally {
    wipe(okm);
  }
}
