/**
 * Link test fixtures: a new device's offer with real keys and signatures (seeded, so runs repeat), and a
 * provisioning message. The RSA moduli and the device list are shape-only stand-ins: the link layer
 * checks their form, not their mathematics (the device-list codec has its own tests).
 */
import { ed25519SigningKeyFromSeed } from '../../../src/crypto/signing-key.js';
import { base64urlEncode } from '../../../src/crypto/bytes.js';
import type { LinkOffer, LinkPin, LinkProvisioning } from '../../../src/e2ee/link/link-messages.js';
import { LocalIdentity } from '../../../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateSignedPreKey } from '../../../src/e2ee/pqxdh/prekeys.js';
import { seededRandom } from '../pqxdh/fixtures.js';

/** 256 bytes, top bit set and odd: the form of a 2048-bit modulus. */
export function fakeModulus(fill: number): string {
  const n = new Uint8Array(256).fill(fill);
  n[0] = 0xc0;
  n[255] = 0x01;
  return base64urlEncode(n);
}

export async function makeOffer(name = 'laptop', seed = 'new device'): Promise<LinkOffer> {
  const random = seededRandom(seed);
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(random(32)), random);
  const spk = await generateSignedPreKey(identity, 1, { random, clock: () => 1_800_000_000_000 });
  const kem = await generateKemPreKey(identity, 2, 'last-resort', { random, clock: () => 1_800_000_000_000 });
  return {
    v: 2,
    name,
    signingKey: base64urlEncode(identity.signingPublicKey),
    identity: { dhKey: base64urlEncode(identity.dhKeyPair.publicKey), binding: base64urlEncode(identity.binding) },
    encryptionKey: { kty: 'RSA', n: fakeModulus(0x5a), e: 'AQAB' },
    signedPreKey: { id: spk.id, publicKey: base64urlEncode(spk.keyPair.publicKey), signature: base64urlEncode(spk.signature) },
    lastResortKemPreKey: { id: kem.id, publicKey: base64urlEncode(kem.publicKey), signature: base64urlEncode(kem.signature) },
  };
}

const ed25519Jwk = (fill: number) => ({ kty: 'OKP' as const, crv: 'Ed25519' as const, x: base64urlEncode(new Uint8Array(32).fill(fill)) });
const listWire = (fill: number) => ({ list: base64urlEncode(new Uint8Array(600).fill(fill)), signature: base64urlEncode(new Uint8Array(64).fill(fill)) });

export function makePin(username: string, fill = 0x22): LinkPin {
  return { username, signingKey: ed25519Jwk(fill), encryptionKey: { kty: 'RSA', n: fakeModulus(fill), e: 'AQAB' }, pinnedAt: 1_795_776_494_638, verified: true, deviceList: listWire(fill) };
}

export function makeProvisioning(username = 'alice', options: { device?: number; pins?: LinkPin[]; history?: number } = {}): LinkProvisioning {
  return {
    v: 2,
    username,
    device: options.device ?? 3,
    approvedBy: 1,
    account: { signingKey: ed25519Jwk(0x11), encryptionKey: { kty: 'RSA', n: fakeModulus(0x11), e: 'AQAB' } },
    deviceList: listWire(0x33),
    pins: options.pins ?? [makePin('bob')],
    history: { count: options.history ?? 0 },
  };
}
