/**
 * Bob's prekeys (PQXDH spec §2.4, §2.5, §3.2): the signed curve prekey SPK, one-time curve prekeys OPK
 * (unsigned, as in the spec), and signed ML-KEM-1024 prekeys, either the last-resort PQSPK (reused until
 * replaced) or one-time PQOPK (deleted after one use). Signatures are Ed25519 by IDS over the labelled
 * encodings of encoding.ts. Live records keep their secrets private; toJSON/inspect show public parts.
 */
import { hexEncode, type Bytes } from '../../crypto/bytes.js';
import { mlkem1024Decapsulate, mlkem1024GenerateKeyPair } from '../../crypto/mlkem.js';
import { defaultClock, type Clock, type RandomSource } from '../../crypto/random.js';
import { X25519KeyPair } from '../../crypto/x25519.js';
import { checkPreKeyId, kemPreKeyMessage, signedPreKeyMessage } from './encoding.js';
import type { LocalIdentity } from './identity.js';

export interface PreKeyOptions {
  readonly random?: RandomSource;
  readonly clock?: Clock;
}

export interface SignedPreKeyRecord {
  readonly id: number;
  readonly keyPair: X25519KeyPair;
  /** Ed25519 by IDS over signedPreKeyMessage(SPK). */
  readonly signature: Bytes;
  /** Milliseconds since the epoch, for rotation policy; not signed. */
  readonly createdAt: number;
}

export interface OneTimePreKeyRecord {
  readonly id: number;
  readonly keyPair: X25519KeyPair;
}

export type KemPreKeyKind = 'last-resort' | 'one-time';

/** An ML-KEM-1024 prekey with its decapsulation key held privately. */
export class KemPreKeyRecord {
  readonly id: number;
  readonly kind: KemPreKeyKind;
  readonly publicKey: Bytes;
  /** Ed25519 by IDS over kemPreKeyMessage(PQPK). */
  readonly signature: Bytes;
  readonly createdAt: number;
  readonly #secretKey: Bytes;

  constructor(fields: { id: number; kind: KemPreKeyKind; publicKey: Bytes; secretKey: Bytes; signature: Bytes; createdAt: number }) {
    checkPreKeyId(fields.id);
    this.id = fields.id;
    this.kind = fields.kind;
    this.publicKey = fields.publicKey;
    this.#secretKey = fields.secretKey;
    this.signature = fields.signature;
    this.createdAt = fields.createdAt;
  }

  decapsulate(ciphertext: Uint8Array): Bytes {
    return mlkem1024Decapsulate(ciphertext, this.#secretKey);
  }

  exportSecretKey(): Bytes {
    return Uint8Array.from(this.#secretKey);
  }

  toJSON(): { type: 'KemPreKeyRecord'; id: number; kind: KemPreKeyKind } {
    return { type: 'KemPreKeyRecord', id: this.id, kind: this.kind };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KemPreKeyRecord { id: ${this.id}, kind: ${this.kind}, publicKey: ${hexEncode(this.publicKey.subarray(0, 8))}… }`;
  }
}

export async function generateSignedPreKey(identity: LocalIdentity, id: number, options: PreKeyOptions = {}): Promise<SignedPreKeyRecord> {
  checkPreKeyId(id);
  const keyPair = await X25519KeyPair.generate(options.random);
  return { id, keyPair, signature: await identity.sign(signedPreKeyMessage(keyPair.publicKey)), createdAt: (options.clock ?? defaultClock)() };
}

/** `count` one-time curve prekeys with consecutive ids from `firstId`. */
export async function generateOneTimePreKeys(firstId: number, count: number, options: PreKeyOptions = {}): Promise<OneTimePreKeyRecord[]> {
  const out: OneTimePreKeyRecord[] = [];
  for (let i = 0; i < count; i++) {
    checkPreKeyId(firstId + i);
    out.push({ id: firstId + i, keyPair: await X25519KeyPair.generate(options.random) });
  }
  return out;
}

export async function generateKemPreKey(identity: LocalIdentity, id: number, kind: KemPreKeyKind, options: PreKeyOptions = {}): Promise<KemPreKeyRecord> {
  const { publicKey, secretKey } = mlkem1024GenerateKeyPair(options.random);
  return new KemPreKeyRecord({
    id,
    kind,
    publicKey,
    secretKey,
    signature: await identity.sign(kemPreKeyMessage(publicKey)),
    createdAt: (options.clock ?? defaultClock)(),
  });
}
