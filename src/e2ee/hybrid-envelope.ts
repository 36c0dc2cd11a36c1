/**
 * The hybrid envelope: the seed's RSA + AES, made authenticated. Sign then encrypt:
 *   1. the payload is signed by the sender as a compact JWS (EdDSA / Ed25519, RFC 8037);
 *   2. that JWS is the plaintext of a JWE (RFC 7516) with alg RSA-OAEP-256 (a fresh random content key,
 *      wrapped with the recipient's RSA-2048 key) and enc A256CBC-HS512 (AES-256-CBC with a fresh IV
 *      plus HMAC-SHA-512, RFC 7518 §5.2), in flattened JSON serialization.
 * jose performs every JOSE step; this file only fixes the algorithms and checks the claims.
 */
import { CompactSign, FlattenedEncrypt, compactVerify, flattenedDecrypt, importJWK, type CryptoKey } from 'jose';
import { base64urlEncode, randomBytes, utf8Decode, utf8Encode } from '../crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf, type Ed25519PrivateJwk, type Ed25519PublicJwk, type RsaPrivateJwk, type RsaPublicJwk } from '../crypto/keys.js';
import { DecryptionFailedError } from '../protocol/errors.js';
import { MESSAGE_ID_BYTES } from '../protocol/limits.js';
import type { HybridEnvelope } from '../protocol/schemas.js';
import type { AttachmentPointer } from './attachment-pointer.js';
import { parsePayload, payloadMatchesRoute, UnsupportedPayloadError, type MessagePayload, type Payload } from './message-payload.js';
import type { ReceiptPayload } from './read-receipt.js';

export const HYBRID_JWS_TYP = 'e2ee-chat.message+jws';
export const HYBRID_JWE_CTY = 'e2ee-chat.message+jws';
const KEY_MANAGEMENT = 'RSA-OAEP-256';
const CONTENT_ENCRYPTION = 'A256CBC-HS512';
const SIGNATURE_ALG = 'EdDSA';

export function newMessageId(): string {
  return base64urlEncode(randomBytes(MESSAGE_ID_BYTES));
}

export type KeyLike<J> = J | CryptoKey;

function isCryptoKey(key: object): key is CryptoKey {
  return 'type' in key && 'algorithm' in key;
}

async function asKey(key: KeyLike<Ed25519PrivateJwk | Ed25519PublicJwk | RsaPrivateJwk | RsaPublicJwk>, alg: string): Promise<CryptoKey> {
  if (isCryptoKey(key)) return key;
  return (await importJWK({ ...key }, alg)) as CryptoKey;
}

/** Public operations take only the public members, even when handed a whole private JWK. */
async function asPublicKey(key: KeyLike<Ed25519PublicJwk> | KeyLike<RsaPublicJwk>, alg: string): Promise<CryptoKey> {
  if (isCryptoKey(key)) return key;
  return asKey(key.kty === 'OKP' ? ed25519PublicOf(key) : rsaPublicOf(key), alg);
}

export async function importSigningKey(jwk: Ed25519PrivateJwk | Ed25519PublicJwk): Promise<CryptoKey> {
  return asKey(jwk, SIGNATURE_ALG);
}

export async function importEncryptionKey(jwk: RsaPrivateJwk | RsaPublicJwk): Promise<CryptoKey> {
  return asKey(jwk, KEY_MANAGEMENT);
}

export interface SealInput {
  from: string;
  to: string;
  body: string;
  senderSigningKey: KeyLike<Ed25519PrivateJwk>;
  recipientEncryptionKey: KeyLike<RsaPublicJwk>;
  /** Defaults to a fresh 128-bit random id. */
  id?: string;
  /** Milliseconds since the Unix epoch; defaults to now. */
  sentAt?: number;
  /** Makes the message a receipt (read-receipt.ts). */
  receipt?: ReceiptPayload;
  /** A file (docs/PROTOCOL.md §20.5); `body` is then its caption or fallback. */
  attachment?: AttachmentPointer;
  /** The sending device: given, the payload is version 2 and names it; absent, version 1 (device 1, §8.1). */
  fromDevice?: number;
}

export async function sealHybridEnvelope(input: SealInput): Promise<{ envelope: HybridEnvelope; payload: MessagePayload }> {
  const content = {
    from: input.from,
    to: input.to,
    id: input.id ?? newMessageId(),
    sentAt: input.sentAt ?? Date.now(),
    body: input.body,
    ...(input.receipt && { receipt: input.receipt }),
    ...(input.attachment && { attachment: input.attachment }),
  };
  const payload: MessagePayload = input.fromDevice === undefined ? { v: 1, ...content } : { v: 2, kind: 'message', fromDevice: input.fromDevice, ...content };
  return { envelope: await sealHybridPayload(payload, input.senderSigningKey, input.recipientEncryptionKey), payload };
}

/** Signs and encrypts a payload as it stands (any kind, §21.3): the construction of sealHybridEnvelope. */
export async function sealHybridPayload(payload: Payload, senderSigningKey: KeyLike<Ed25519PrivateJwk>, recipientEncryptionKey: KeyLike<RsaPublicJwk>): Promise<HybridEnvelope> {
  const jws = await new CompactSign(utf8Encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: SIGNATURE_ALG, typ: HYBRID_JWS_TYP })
    .sign(await asKey(senderSigningKey, SIGNATURE_ALG));
  const jwe = await new FlattenedEncrypt(utf8Encode(jws))
    .setProtectedHeader({ alg: KEY_MANAGEMENT, enc: CONTENT_ENCRYPTION, cty: HYBRID_JWE_CTY })
    .encrypt(await asPublicKey(recipientEncryptionKey, KEY_MANAGEMENT));
  return {
    type: 'hybrid',
    v: 1,
    jwe: {
      protected: jwe.protected!,
      encrypted_key: jwe.encrypted_key!,
      iv: jwe.iv!,
      ciphertext: jwe.ciphertext,
      tag: jwe.tag!,
    },
  };
}

export interface OpenInput {
  envelope: HybridEnvelope;
  /** The sender as stamped by the server; the signed payload must name the same user. */
  from: string;
  /** The sending device as stamped by the server (absent: 1); the signed payload must name the same. */
  fromDevice?: number;
  /** Who we are; the signed payload must be addressed to us (or, from our own other device, by us). */
  me: string;
  recipientDecryptionKey: KeyLike<RsaPrivateJwk>;
  /** The sender's pinned signing key. */
  senderVerificationKey: KeyLike<Ed25519PublicJwk>;
}

/**
 * Opens an envelope or throws DecryptionFailedError. The cause is attached for debug logging only; the
 * message and code are the same whichever check failed. The one other outcome is UnsupportedPayloadError:
 * an envelope that opened and verified, holding a payload kind from a newer client (§21.3).
 */
export async function openHybridEnvelope(input: OpenInput): Promise<Payload> {
  try {
    const { plaintext, protectedHeader } = await flattenedDecrypt(
      input.envelope.jwe,
      await asKey(input.recipientDecryptionKey, KEY_MANAGEMENT),
      { keyManagementAlgorithms: [KEY_MANAGEMENT], contentEncryptionAlgorithms: [CONTENT_ENCRYPTION] },
    );
    if (protectedHeader?.cty !== HYBRID_JWE_CTY) throw new Error('unexpected JWE cty');
    // No extensions: a `crit` header could change how the content is to be read.
    if (protectedHeader.crit !== undefined) throw new Error('JWE crit header not supported');
    const verified = await compactVerify(utf8Decode(plaintext), await asPublicKey(input.senderVerificationKey, SIGNATURE_ALG), {
      algorithms: [SIGNATURE_ALG],
    });
    if (verified.protectedHeader.typ !== HYBRID_JWS_TYP) throw new Error('unexpected JWS typ');
    if (verified.protectedHeader.crit !== undefined) throw new Error('JWS crit header not supported');
    const payload = parsePayload(JSON.parse(utf8Decode(verified.payload)));
    if (!payload) throw new Error('signed payload is malformed');
    if (!payloadMatchesRoute(payload, { from: input.from, fromDevice: input.fromDevice ?? 1, me: input.me })) {
      throw new Error('signed sender, device or recipient differs from the route');
    }
    return payload;
  } catch (cause) {
    if (cause instanceof UnsupportedPayloadError) throw cause;
    throw new DecryptionFailedError({ cause });
  }
}
