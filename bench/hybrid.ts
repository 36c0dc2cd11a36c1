/** The hybrid envelope (JWS in JWE, RSA-OAEP-256 + A256CBC-HS512): seals and opens per second. */
import { ed25519PublicOf, generateUserKeyPairs } from '../src/crypto/keys.js';
import { importEncryptionKey, importSigningKey, openHybridEnvelope, sealHybridEnvelope } from '../src/e2ee/hybrid-envelope.js';
import type { Figure } from './lib/report.js';

export async function hybridBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const count = { full: 2_000, quick: 500, smoke: 5 }[mode];
  const [alice, bob] = await Promise.all([generateUserKeyPairs(), generateUserKeyPairs()]);
  const sign = await importSigningKey(alice.signing);
  const bobPublic = await importEncryptionKey({ kty: 'RSA', n: bob.encryption.n, e: bob.encryption.e });
  const bobPrivate = await importEncryptionKey(bob.encryption);
  const verify = await importSigningKey(ed25519PublicOf(alice.signing));
  const body = 'x'.repeat(100);
  const seal = () => sealHybridEnvelope({ from: 'alice', to: 'bob', body, senderSigningKey: sign, recipientEncryptionKey: bobPublic });
  const envelopes = [];
  let t = performance.now();
  for (let i = 0; i < count; i++) envelopes.push((await seal()).envelope);
  const sealRate = count / ((performance.now() - t) / 1000);
  t = performance.now();
  for (const envelope of envelopes) {
    await openHybridEnvelope({ envelope, from: 'alice', me: 'bob', recipientDecryptionKey: bobPrivate, senderVerificationKey: verify });
  }
  const openRate = count / ((performance.now() - t) / 1000);
  return [
    { section: 'hybrid', name: 'seal (sign + RSA-OAEP-256 wrap + A256CBC-HS512), 100-byte body', value: sealRate, unit: '/s' },
    { section: 'hybrid', name: 'open (RSA-OAEP-256 unwrap + decrypt + verify)', value: openRate, unit: '/s' },
    { section: 'hybrid', name: 'envelope size for a 100-byte body', value: JSON.stringify(envelopes[0]).length, unit: 'B' },
  ];
}
