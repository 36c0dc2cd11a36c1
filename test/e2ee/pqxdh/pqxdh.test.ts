/**
 * PQXDH (src/e2ee/pqxdh/) as in Signal's PQXDH spec §3, with our documented adaptations
 * (docs/PROTOCOL.md §16): both sides agree on SK and AD, every bundle signature is checked, tampering with the
 * KEM ciphertext or naming another one-time prekey changes the key, and one-time prekey use is reported.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, hexEncode, utf8Encode } from '../../../src/crypto/bytes.js';
import { ChatError, DecryptionFailedError } from '../../../src/protocol/errors.js';
import { verifyPreKeyBundle, type PreKeyBundle } from '../../../src/e2ee/pqxdh/bundle.js';
import { PQXDH_AD_LENGTH } from '../../../src/e2ee/pqxdh/constants.js';
import { encodeEC, encodeEd, kemPreKeyMessage, signedPreKeyMessage } from '../../../src/e2ee/pqxdh/encoding.js';
import { decodeInitialMessage, encodeInitialMessage, INITIAL_MESSAGE_HEADER_LENGTH } from '../../../src/e2ee/pqxdh/initial-message.js';
import { pqxdhInitiate } from '../../../src/e2ee/pqxdh/initiate.js';
import { pqxdhRespond } from '../../../src/e2ee/pqxdh/respond.js';
import { makeParty, seededRandom } from './fixtures.js';

async function expectRejectedBundle(bundle: PreKeyBundle, code: string): Promise<void> {
  const alice = await makeParty('alice-verify');
  await expect(pqxdhInitiate(bundle, alice.identity)).rejects.toSatisfy((e) => e instanceof ChatError && e.code === code);
}

function flip(bytes: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(bytes);
  out[index]! ^= 0x01;
  return out;
}

describe('PQXDH', () => {
  it.each([
    ['with a one-time curve prekey and a one-time KEM prekey', { oneTime: true, kemOneTime: true }],
    ['without a one-time curve prekey (DH4 omitted)', { oneTime: false, kemOneTime: true }],
    ['with the last-resort KEM prekey only', { oneTime: false, kemOneTime: false }],
  ])('both sides derive the same SK and AD %s', async (_label, bundleOptions) => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const init = await pqxdhInitiate(bob.bundle(bundleOptions), alice.identity);
    const resp = await pqxdhRespond(init.message, bob.identity, bob.preKeys);
    expect(hexEncode(resp.sharedKey)).toBe(hexEncode(init.sharedKey));
    expect(init.sharedKey).toHaveLength(32);
    expect(hexEncode(resp.associatedData)).toBe(hexEncode(init.associatedData));
    expect(init.associatedData).toHaveLength(PQXDH_AD_LENGTH);
    expect(init.message.oneTimePreKeyId !== undefined).toBe(bundleOptions.oneTime);
  });

  it('AD is EncodeEC(IK_A) || EncodeEC(IK_B) || EncodeEd(IDS_A) || EncodeEd(IDS_B)', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const init = await pqxdhInitiate(bob.bundle(), alice.identity);
    const a = alice.identity.publicIdentity();
    const b = bob.identity.publicIdentity();
    expect(hexEncode(init.associatedData)).toBe(hexEncode(concatBytes(encodeEC(a.dhKey), encodeEC(b.dhKey), encodeEd(a.signingKey), encodeEd(b.signingKey))));
    expect(init.associatedData[0]).toBe(0x05);
    expect(init.associatedData[66]).toBe(0xed);
  });

  it('SK equals HKDF-SHA-256(F || DH1 || DH2 || DH3 || DH4 || SS, 32 zero bytes, info) recomputed independently', async () => {
    const random = seededRandom('independent');
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    // Capture Alice's ephemeral secret by replaying the seeded stream: EK_A is the first 32 bytes drawn.
    const init = await pqxdhInitiate(bob.bundle(), alice.identity, { random });
    const ekSecret = seededRandom('independent')(32);
    expect(hexEncode(x25519.getPublicKey(ekSecret))).toBe(hexEncode(init.message.ephemeralKey));
    const ss = (await bob.preKeys.getKemPreKey(init.message.kemPreKeyId))!.decapsulate(init.message.kemCiphertext);
    const opk = (await bob.preKeys.getOneTimePreKey(init.message.oneTimePreKeyId!))!;
    const dh1 = x25519.getSharedSecret(alice.identity.dhKeyPair.exportSecretKey(), bob.signedPreKey.keyPair.publicKey);
    const dh2 = x25519.getSharedSecret(ekSecret, bob.identity.dhKeyPair.publicKey);
    const dh3 = x25519.getSharedSecret(ekSecret, bob.signedPreKey.keyPair.publicKey);
    const dh4 = x25519.getSharedSecret(ekSecret, opk.keyPair.publicKey);
    const ikm = concatBytes(new Uint8Array(32).fill(0xff), dh1, dh2, dh3, dh4, ss);
    const expected = hkdf(sha256, ikm, new Uint8Array(32), utf8Encode('e2ee-chat_PQXDH_CURVE25519_SHA-256_ML-KEM-1024'), 32);
    expect(hexEncode(init.sharedKey)).toBe(hexEncode(expected));
  });

  it('rejects a bundle if any byte of any of its three signatures is flipped', async () => {
    const bob = await makeParty('bob');
    const bundle = bob.bundle();
    verifyPreKeyBundle(bundle);
    for (let i = 0; i < 64; i += 7) {
      for (const mutate of [
        (b: PreKeyBundle): PreKeyBundle => ({ ...b, identity: { ...b.identity, binding: flip(b.identity.binding, i) } }),
        (b: PreKeyBundle): PreKeyBundle => ({ ...b, signedPreKey: { ...b.signedPreKey, signature: flip(b.signedPreKey.signature, i) } }),
        (b: PreKeyBundle): PreKeyBundle => ({ ...b, kemPreKey: { ...b.kemPreKey, signature: flip(b.kemPreKey.signature, i) } }),
      ]) {
        expect(() => verifyPreKeyBundle(mutate(bundle))).toThrow(expect.objectContaining({ code: 'bad_signature' }));
      }
    }
    await expectRejectedBundle({ ...bundle, signedPreKey: { ...bundle.signedPreKey, signature: flip(bundle.signedPreKey.signature, 63) } }, 'bad_signature');
  });

  it('rejects a bundle whose keys were swapped, re-signed by another identity, or signed under the wrong label', async () => {
    const bob = await makeParty('bob');
    const mallory = await makeParty('mallory');
    const bundle = bob.bundle();
    const other = mallory.bundle();
    await expectRejectedBundle({ ...bundle, signedPreKey: other.signedPreKey }, 'bad_signature');
    await expectRejectedBundle({ ...bundle, kemPreKey: other.kemPreKey }, 'bad_signature');
    await expectRejectedBundle({ ...bundle, identity: { ...bundle.identity, dhKey: other.identity.dhKey } }, 'bad_signature');
    await expectRejectedBundle({ ...bundle, identity: { ...other.identity, binding: bundle.identity.binding } }, 'bad_signature');
    // A signature made for a KEM prekey does not pass as a signed-prekey signature (domain labels).
    const kemStyle = await bob.identity.sign(kemPreKeyMessage(bundle.kemPreKey.publicKey));
    await expectRejectedBundle({ ...bundle, signedPreKey: { ...bundle.signedPreKey, signature: kemStyle as typeof bundle.signedPreKey.signature } }, 'bad_signature');
    expect(await bob.identity.sign(signedPreKeyMessage(bundle.signedPreKey.publicKey))).toEqual(bundle.signedPreKey.signature);
  });

  it('rejects a correctly signed low-order signed prekey and a malformed KEM key', async () => {
    const bob = await makeParty('bob');
    const bundle = bob.bundle();
    const lowOrder = new Uint8Array(32); // u = 0
    const sig = (await bob.identity.sign(signedPreKeyMessage(lowOrder))) as typeof bundle.signedPreKey.signature;
    await expectRejectedBundle({ ...bundle, signedPreKey: { ...bundle.signedPreKey, publicKey: lowOrder, signature: sig } }, 'bad_request');
    const badKem = new Uint8Array(1568).fill(0xff); // coefficients >= q fail the FIPS 203 modulus check
    const kemSig = (await bob.identity.sign(kemPreKeyMessage(badKem))) as typeof bundle.kemPreKey.signature;
    await expectRejectedBundle({ ...bundle, kemPreKey: { ...bundle.kemPreKey, publicKey: badKem, signature: kemSig } }, 'bad_request');
  });

  it('a tampered KEM ciphertext gives Bob a different key (ML-KEM implicit rejection)', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const init = await pqxdhInitiate(bob.bundle(), alice.identity);
    const tampered = { ...init.message, kemCiphertext: flip(init.message.kemCiphertext, 100) };
    const resp = await pqxdhRespond(tampered, bob.identity, bob.preKeys);
    expect(hexEncode(resp.sharedKey)).not.toBe(hexEncode(init.sharedKey));
  });

  it('naming a different one-time prekey gives a different key; an unknown one fails', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const init = await pqxdhInitiate(bob.bundle(), alice.identity);
    const other = bob.oneTime.find((k) => k.id !== init.message.oneTimePreKeyId)!;
    const resp = await pqxdhRespond({ ...init.message, oneTimePreKeyId: other.id }, bob.identity, bob.preKeys);
    expect(hexEncode(resp.sharedKey)).not.toBe(hexEncode(init.sharedKey));
    await expect(pqxdhRespond({ ...init.message, oneTimePreKeyId: 99999 }, bob.identity, bob.preKeys)).rejects.toBeInstanceOf(DecryptionFailedError);
    await expect(pqxdhRespond({ ...init.message, oneTimePreKeyId: undefined }, bob.identity, bob.preKeys).then((r) => hexEncode(r.sharedKey))).resolves.not.toBe(hexEncode(init.sharedKey));
  });

  it('reports used one-time prekeys for deletion, and never the last-resort KEM prekey', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const withAll = await pqxdhInitiate(bob.bundle(), alice.identity);
    const r1 = await pqxdhRespond(withAll.message, bob.identity, bob.preKeys);
    expect(r1.consumed).toEqual({ oneTimePreKeyId: withAll.message.oneTimePreKeyId, kemPreKeyId: withAll.message.kemPreKeyId });
    const lastResort = await pqxdhInitiate(bob.bundle({ oneTime: false, kemOneTime: false }), alice.identity);
    const r2 = await pqxdhRespond(lastResort.message, bob.identity, bob.preKeys);
    expect(r2.consumed).toEqual({});
    expect(lastResort.message.kemPreKeyId).toBe(bob.kemLastResort.id);
    // pqxdhRespond itself deletes nothing: deletion waits for the initial ciphertext (session-builder).
    expect(bob.preKeys.counts()).toEqual({ oneTime: 2, kemOneTime: 2, kemLastResort: 1 });
  });

  it("fails as DecryptionFailedError (cause bad_signature) when the initiator's identity binding is forged", async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const mallory = await makeParty('mallory');
    const init = await pqxdhInitiate(bob.bundle(), alice.identity);
    const forged = { ...init.message, identity: { ...init.message.identity, dhKey: mallory.identity.dhKeyPair.publicKey } };
    const error = await pqxdhRespond(forged, bob.identity, bob.preKeys).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecryptionFailedError);
    expect((error as DecryptionFailedError).cause).toMatchObject({ code: 'bad_signature' });
  });

  it('encodes the initial message with the documented layout and parses it back; malformed input is bad_request', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const init = await pqxdhInitiate(bob.bundle(), alice.identity);
    const wire = encodeInitialMessage(init.message, Uint8Array.of(1, 2, 3));
    expect(INITIAL_MESSAGE_HEADER_LENGTH).toBe(1746);
    expect(wire).toHaveLength(1749);
    expect([wire[0], wire[1], wire[34], wire[131], wire[168], wire[177]]).toEqual([0x02, 0xed, 0x05, 0x05, 0x01, 0x0a]);
    const back = decodeInitialMessage(wire);
    expect(back.message).toEqual(init.message);
    expect([...back.ratchetMessage]).toEqual([1, 2, 3]);
    for (const bad of [wire.slice(0, 1746), flip(wire, 0), flip(wire, 1), flip(wire, 34), flip(wire, 168), flip(wire, 177)]) {
      expect(() => decodeInitialMessage(bad)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
  });
});
