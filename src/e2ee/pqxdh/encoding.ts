/**
 * EncodeEC / DecodeEC / EncodeKEM / DecodeKEM (PQXDH spec §2.1) and our Ed25519 encoding, plus the
 * exact byte strings that Ed25519 signatures cover. Layouts are tabled in docs/PROTOCOL.md §16.
 */
import { concatBytes, type Bytes } from '../../crypto/bytes.js';
import { ED25519_PUBLIC_KEY_LENGTH } from '../../crypto/ed25519.js';
import { MLKEM1024_CIPHERTEXT_LENGTH, MLKEM1024_PUBLIC_KEY_LENGTH } from '../../crypto/mlkem.js';
import { X25519_KEY_LENGTH } from '../../crypto/x25519.js';
import { ChatError } from '../../protocol/errors.js';
import {
  KEY_TYPE_ED25519,
  KEY_TYPE_MLKEM1024,
  KEY_TYPE_X25519,
  LABEL_IDENTITY_BINDING,
  LABEL_KEM_PREKEY,
  LABEL_SIGNED_PREKEY,
  MAX_PREKEY_ID,
} from './constants.js';

function prefixed(type: number, key: Uint8Array, length: number, name: string): Bytes {
  if (!(key instanceof Uint8Array) || key.length !== length) throw new ChatError('bad_request', `${name} must be ${length} bytes`);
  const out = new Uint8Array(1 + length);
  out[0] = type;
  out.set(key, 1);
  return out;
}

function unprefixed(type: number, encoded: Uint8Array, length: number, name: string): Bytes {
  if (encoded.length !== 1 + length || encoded[0] !== type) throw new ChatError('bad_request', `${name} has the wrong type byte or length`);
  return encoded.slice(1);
}

/** EncodeEC: 0x05 || u (32 bytes, little-endian, RFC 7748 §5). */
export const encodeEC = (key: Uint8Array): Bytes => prefixed(KEY_TYPE_X25519, key, X25519_KEY_LENGTH, 'X25519 public key');
export const decodeEC = (encoded: Uint8Array): Bytes => unprefixed(KEY_TYPE_X25519, encoded, X25519_KEY_LENGTH, 'encoded X25519 key');
/** EncodeKEM: 0x0A || ek (1568 bytes, FIPS 203 ByteEncode12 of t̂ || ρ). */
export const encodeKEM = (key: Uint8Array): Bytes => prefixed(KEY_TYPE_MLKEM1024, key, MLKEM1024_PUBLIC_KEY_LENGTH, 'ML-KEM-1024 public key');
export const decodeKEM = (encoded: Uint8Array): Bytes => unprefixed(KEY_TYPE_MLKEM1024, encoded, MLKEM1024_PUBLIC_KEY_LENGTH, 'encoded ML-KEM-1024 key');
/** KEM ciphertext on the wire: 0x0A || c (1568 bytes). */
export const encodeKemCiphertext = (ct: Uint8Array): Bytes => prefixed(KEY_TYPE_MLKEM1024, ct, MLKEM1024_CIPHERTEXT_LENGTH, 'ML-KEM-1024 ciphertext');
export const decodeKemCiphertext = (encoded: Uint8Array): Bytes =>
  unprefixed(KEY_TYPE_MLKEM1024, encoded, MLKEM1024_CIPHERTEXT_LENGTH, 'encoded ML-KEM-1024 ciphertext');
/** EncodeEd: 0xED || A (32 bytes, RFC 8032 §5.1.5). */
export const encodeEd = (key: Uint8Array): Bytes => prefixed(KEY_TYPE_ED25519, key, ED25519_PUBLIC_KEY_LENGTH, 'Ed25519 public key');
export const decodeEd = (encoded: Uint8Array): Bytes => unprefixed(KEY_TYPE_ED25519, encoded, ED25519_PUBLIC_KEY_LENGTH, 'encoded Ed25519 key');

const ZERO = Uint8Array.of(0);

/** Signed by IDS to bind the X25519 identity key: label || 0x00 || EncodeEd(IDS) || EncodeEC(IK). */
export function identityBindingMessage(signingKey: Uint8Array, dhKey: Uint8Array): Bytes {
  return concatBytes(LABEL_IDENTITY_BINDING, ZERO, encodeEd(signingKey), encodeEC(dhKey));
}

/** Sig(IK_B, EncodeEC(SPK_B)) of spec §3.2, made with IDS: label || 0x00 || EncodeEC(SPK). */
export function signedPreKeyMessage(publicKey: Uint8Array): Bytes {
  return concatBytes(LABEL_SIGNED_PREKEY, ZERO, encodeEC(publicKey));
}

/** Sig(IK_B, EncodeKEM(PQSPK_B / PQOPK_B)) of spec §3.2, made with IDS: label || 0x00 || EncodeKEM(PQPK). */
export function kemPreKeyMessage(publicKey: Uint8Array): Bytes {
  return concatBytes(LABEL_KEM_PREKEY, ZERO, encodeKEM(publicKey));
}

export function checkPreKeyId(id: number, name = 'prekey id'): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) throw new RangeError(`"${name}" expected an unsigned 32-bit integer`);
}

export function writeUint32(out: Uint8Array, offset: number, value: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(offset, value, false);
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, false);
}
