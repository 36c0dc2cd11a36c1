/**
 * The PQXDH initial message (spec §3.3: "Alice then sends Bob an initial message containing: Alice's
 * identity key IK_A, Alice's ephemeral key EK_A, the pqkem ciphertext CT, identifiers stating which of
 * Bob's prekeys Alice used, an initial ciphertext"). The initial ciphertext is the first Double Ratchet
 * message, carried after the fixed-size PQXDH fields. Byte layout (docs/PROTOCOL.md §16, table "initial
 * message"), all integers unsigned big-endian:
 *
 *   off   len   field
 *   0     1     type/version 0x02
 *   1     33    EncodeEd(IDS_A)
 *   34    33    EncodeEC(IK_A)
 *   67    64    identity binding signature of A
 *   131   33    EncodeEC(EK_A)
 *   164   4     signed prekey id
 *   168   1     one-time prekey flag: 0x00 absent, 0x01 present
 *   169   4     one-time prekey id (0 when absent)
 *   173   4     KEM prekey id (one-time or last-resort)
 *   177   1569  0x0A || ML-KEM-1024 ciphertext
 *   1746  rest  the first Double Ratchet message (>= 1 byte)
 */
import { concatBytes, type Bytes } from '../../crypto/bytes.js';
import { ED25519_SIGNATURE_LENGTH } from '../../crypto/ed25519.js';
import { ChatError } from '../../protocol/errors.js';
import { ENCODED_EC_LENGTH, ENCODED_ED_LENGTH, ENCODED_KEM_CIPHERTEXT_LENGTH, INITIAL_MESSAGE_VERSION } from './constants.js';
import { checkPreKeyId, decodeEC, decodeEd, decodeKemCiphertext, encodeEC, encodeEd, encodeKemCiphertext, readUint32, writeUint32 } from './encoding.js';
import type { PublicIdentity } from './identity.js';

export interface PqxdhInitialMessage {
  /** IDS_A, IK_A and A's binding signature: Bob verifies the binding, the caller checks IDS_A. */
  readonly identity: PublicIdentity;
  /** EK_A, 32 bytes. */
  readonly ephemeralKey: Bytes;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId?: number;
  readonly kemPreKeyId: number;
  /** The raw 1568-byte ML-KEM-1024 ciphertext. */
  readonly kemCiphertext: Bytes;
}

export const INITIAL_MESSAGE_HEADER_LENGTH = 1 + ENCODED_ED_LENGTH + ENCODED_EC_LENGTH + ED25519_SIGNATURE_LENGTH + ENCODED_EC_LENGTH + 4 + 1 + 4 + 4 + ENCODED_KEM_CIPHERTEXT_LENGTH;

export function encodeInitialMessage(m: PqxdhInitialMessage, ratchetMessage: Uint8Array): Bytes {
  checkPreKeyId(m.signedPreKeyId);
  checkPreKeyId(m.kemPreKeyId);
  if (m.oneTimePreKeyId !== undefined) checkPreKeyId(m.oneTimePreKeyId);
  if (m.identity.binding.length !== ED25519_SIGNATURE_LENGTH) throw new RangeError('"binding" expected 64 bytes');
  const ids = new Uint8Array(13);
  writeUint32(ids, 0, m.signedPreKeyId);
  ids[4] = m.oneTimePreKeyId === undefined ? 0 : 1;
  writeUint32(ids, 5, m.oneTimePreKeyId ?? 0);
  writeUint32(ids, 9, m.kemPreKeyId);
  return concatBytes(
    Uint8Array.of(INITIAL_MESSAGE_VERSION),
    encodeEd(m.identity.signingKey),
    encodeEC(m.identity.dhKey),
    m.identity.binding,
    encodeEC(m.ephemeralKey),
    ids,
    encodeKemCiphertext(m.kemCiphertext),
    ratchetMessage,
  );
}

/** Parses the fixed fields; throws ChatError('bad_request') for any malformed input. */
export function decodeInitialMessage(bytes: Uint8Array): { message: PqxdhInitialMessage; ratchetMessage: Bytes } {
  if (bytes.length <= INITIAL_MESSAGE_HEADER_LENGTH) throw new ChatError('bad_request', 'initial message too short');
  if (bytes[0] !== INITIAL_MESSAGE_VERSION) throw new ChatError('bad_request', 'unknown initial message version');
  let o = 1;
  const take = (n: number) => bytes.slice(o, (o += n));
  try {
    const signingKey = decodeEd(take(ENCODED_ED_LENGTH));
    const dhKey = decodeEC(take(ENCODED_EC_LENGTH));
    const binding = take(ED25519_SIGNATURE_LENGTH);
    const ephemeralKey = decodeEC(take(ENCODED_EC_LENGTH));
    const ids = take(13);
    const flag = ids[4];
    if (flag !== 0 && flag !== 1) throw new ChatError('bad_request', 'bad one-time prekey flag');
    if (flag === 0 && readUint32(ids, 5) !== 0) throw new ChatError('bad_request', 'absent one-time prekey must have id 0');
    const kemCiphertext = decodeKemCiphertext(take(ENCODED_KEM_CIPHERTEXT_LENGTH));
    const message: PqxdhInitialMessage = {
      identity: { signingKey, dhKey, binding },
      ephemeralKey,
      signedPreKeyId: readUint32(ids, 0),
      ...(flag === 1 ? { oneTimePreKeyId: readUint32(ids, 5) } : {}),
      kemPreKeyId: readUint32(ids, 9),
      kemCiphertext,
    };
    return { message, ratchetMessage: bytes.slice(o) };
  } catch (cause) {
    if (cause instanceof ChatError && cause.code === 'bad_request') throw cause;
    throw new ChatError('bad_request', 'malformed initial message', { cause });
  }
}
