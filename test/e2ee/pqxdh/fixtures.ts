/** Test fixtures: parties with identities, prekey stores and bundles; a seeded RNG for reproducible runs. */
import { ed25519SigningKeyFromSeed } from '../../../src/crypto/signing-key.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8Encode, type Bytes } from '../../../src/crypto/bytes.js';
import type { RandomSource } from '../../../src/crypto/random.js';
import { buildPreKeyBundle, type PreKeyBundle } from '../../../src/e2ee/pqxdh/bundle.js';
import { LocalIdentity } from '../../../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey, type KemPreKeyRecord, type OneTimePreKeyRecord, type SignedPreKeyRecord } from '../../../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../../../src/e2ee/pqxdh/stores.js';

/** Deterministic byte stream: SHA-256(label || counter) blocks. Tests only. */
export function seededRandom(label: string): RandomSource {
  let counter = 0;
  return (length: number): Bytes => {
    const out = new Uint8Array(length);
    for (let o = 0; o < length; o += 32) {
      const block = sha256(concatBytes(utf8Encode(label), Uint8Array.of(counter >>> 24, counter >>> 16, counter >>> 8, counter)));
      counter++;
      out.set(block.subarray(0, Math.min(32, length - o)), o);
    }
    return out;
  };
}

export interface Party {
  readonly name: string;
  readonly identity: LocalIdentity;
  readonly preKeys: InMemoryPreKeyStore;
  readonly signedPreKey: SignedPreKeyRecord;
  readonly kemLastResort: KemPreKeyRecord;
  readonly kemOneTime: KemPreKeyRecord[];
  readonly oneTime: OneTimePreKeyRecord[];
  /** A bundle as the server would hand it out; one-time keys are used in order unless told otherwise. */
  bundle(options?: { oneTime?: boolean; kemOneTime?: boolean }): PreKeyBundle;
}

export async function makeParty(name: string, options: { random?: RandomSource; oneTimeCount?: number; kemOneTimeCount?: number } = {}): Promise<Party> {
  const random = options.random ?? seededRandom(`party ${name}`);
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(random(32)), random);
  const preKeys = new InMemoryPreKeyStore();
  const signedPreKey = await generateSignedPreKey(identity, 1, { random, clock: () => 1_700_000_000_000 });
  await preKeys.saveSignedPreKey(signedPreKey);
  const kemLastResort = await generateKemPreKey(identity, 1000, 'last-resort', { random, clock: () => 1_700_000_000_000 });
  await preKeys.saveKemPreKey(kemLastResort);
  const kemOneTime = await Promise.all(Array.from({ length: options.kemOneTimeCount ?? 2 }, (_, i) => generateKemPreKey(identity, 2000 + i, 'one-time', { random })));
  for (const k of kemOneTime) await preKeys.saveKemPreKey(k);
  const oneTime = await generateOneTimePreKeys(100, options.oneTimeCount ?? 2, { random });
  for (const k of oneTime) await preKeys.saveOneTimePreKey(k);
  let nextOneTime = 0;
  let nextKem = 0;
  return {
    name,
    identity,
    preKeys,
    signedPreKey,
    kemLastResort,
    kemOneTime,
    oneTime,
    bundle({ oneTime: useOneTime = true, kemOneTime: useKemOneTime = true } = {}) {
      const kem = useKemOneTime && nextKem < kemOneTime.length ? kemOneTime[nextKem++]! : kemLastResort;
      const opk = useOneTime && nextOneTime < oneTime.length ? oneTime[nextOneTime++] : undefined;
      return buildPreKeyBundle(identity, signedPreKey, kem, opk);
    },
  };
}
