/**
 * Every constant of our PQXDH instantiation in one place (Signal PQXDH spec, revision 3 of 2024-01-23, §2.1
 * "PQXDH parameters"): curve = curve25519 (X25519), hash = SHA-256, pqkem = ML-KEM-1024 (FIPS 203; the
 * spec's text names CRYSTALS-KYBER-1024, whose standardised form is ML-KEM-1024), aead = the Double
 * Ratchet's AES-256-CBC + HMAC-SHA-256 (Double Ratchet spec §5.2). docs/PROTOCOL.md §16 restates them all.
 */
import { utf8Encode } from '../../crypto/bytes.js';

/**
 * HKDF info (spec §2.2 KDF): the 4 parameters info, curve, hash and pqkem joined with '_'. Our `info`
 * parameter is "e2ee-chat_PQXDH" (>= 8 ASCII bytes, names application and protocol).
 */
export const PQXDH_INFO = utf8Encode('e2ee-chat_PQXDH_CURVE25519_SHA-256_ML-KEM-1024');
/** Spec §2.2: F = 32 0xFF bytes for curve25519, prepended to the KDF input key material. */
export const PQXDH_KDF_F = new Uint8Array(32).fill(0xff);
/** Spec §2.2: HKDF salt = hash-length zero bytes. */
export const PQXDH_KDF_SALT = new Uint8Array(32);
/** Spec §2.2: KDF output, the shared secret SK, is 32 bytes. */
export const PQXDH_SK_LENGTH = 32;

/**
 * One-byte type prefixes of the key encodings (spec §2.1 EncodeEC / EncodeKEM). The spec requires the
 * ranges of all encoding functions to be pairwise disjoint; distinct first bytes guarantee it.
 *  - 0x05: X25519 public key (Signal's "DJB" type byte), then the 32-byte little-endian u (RFC 7748 §5).
 *  - 0x0A: ML-KEM-1024 encapsulation key (libsignal's byte for ML-KEM-1024), then its 1568 bytes.
 *  - 0xED: Ed25519 public key (ours: Signal has no Ed25519 identity type), then 32 bytes (RFC 8032 §5.1.5).
 */
export const KEY_TYPE_X25519 = 0x05;
export const KEY_TYPE_MLKEM1024 = 0x0a;
export const KEY_TYPE_ED25519 = 0xed;
export const ENCODED_EC_LENGTH = 33;
export const ENCODED_ED_LENGTH = 33;
export const ENCODED_KEM_LENGTH = 1569;
/** KEM ciphertexts travel with the same type byte as their key: 0x0A || 1568 bytes. */
export const ENCODED_KEM_CIPHERTEXT_LENGTH = 1569;

/**
 * Ed25519 signature messages: ASCII label || 0x00 || payload. Labels contain no 0x00, so the split is
 * unique and no signature for one purpose verifies as another.
 */
export const LABEL_IDENTITY_BINDING = utf8Encode('e2ee-chat PQXDH v1 identity binding');
export const LABEL_SIGNED_PREKEY = utf8Encode('e2ee-chat PQXDH v1 signed prekey');
export const LABEL_KEM_PREKEY = utf8Encode('e2ee-chat PQXDH v1 kem prekey');

/**
 * AD (spec §3.3) = EncodeEC(IK_A) || EncodeEC(IK_B) || EncodeEd(IDS_A) || EncodeEd(IDS_B): the spec's two
 * identity keys, then (our documented addition) both Ed25519 identity signing keys. Fixed length, so the
 * Double Ratchet's CONCAT(AD, header) stays parseable without a length prefix.
 */
export const PQXDH_AD_LENGTH = 2 * ENCODED_EC_LENGTH + 2 * ENCODED_ED_LENGTH;

/**
 * First byte of the encoded PQXDH initial message (initial-message.ts): type-and-version 0x02, distinct
 * from the Double Ratchet header's 0x01 (ratchet/constants.ts), so a receiver tells the two apart.
 */
export const INITIAL_MESSAGE_VERSION = 0x02;

/** Prekey ids are unsigned 32-bit integers on the wire. */
export const MAX_PREKEY_ID = 0xffff_ffff;
