import { beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { base64urlDecode, base64urlEncode, utf8Decode } from '../../src/crypto/bytes.js';
import { generateUserKeyPairs, ed25519PublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { openHybridEnvelope, sealHybridEnvelope, type OpenInput } from '../../src/e2ee/hybrid-envelope.js';
import { DecryptionFailedError } from '../../src/protocol/errors.js';
import type { HybridEnvelope } from '../../src/protocol/schemas.js';
import { hybridEnvelopeSchema } from '../../src/protocol/schemas.js';

let alice: UserKeyPairs;
let bob: UserKeyPairs;
let eve: UserKeyPairs;

beforeAll(async () => {
  [alice, bob, eve] = await Promise.all([generateUserKeyPairs(), generateUserKeyPairs(), generateUserKeyPairs()]);
});

async function sealForBob(body = 'hello thanh') {
  return sealHybridEnvelope({ from: 'alice', to: 'bob', body, senderSigningKey: alice.signing, recipientEncryptionKey: bob.encryption });
}

function openAsBob(envelope: HybridEnvelope, overrides: Partial<OpenInput> = {}) {
  return openHybridEnvelope({
    envelope,
    from: 'alice',
    me: 'bob',
    recipientDecryptionKey: bob.encryption,
    senderVerificationKey: ed25519PublicOf(alice.signing),
    ...overrides,
  });
}

function flipByte(field: string, index: number): string {
  const bytes = base64urlDecode(field);
  bytes[index] = bytes[index]! ^ 0x01;
  return base64urlEncode(bytes);
}

describe('hybrid envelope (JWS EdDSA inside JWE RSA-OAEP-256 + A256CBC-HS512)', () => {
  it('round-trips the signed payload', async () => {
    const { envelope, payload } = await sealForBob('héllo 👋');
    expect(hybridEnvelopeSchema.parse(envelope)).toEqual(envelope);
    const opened = await openAsBob(envelope);
    expect(opened).toEqual(payload);
    expect('body' in opened && opened.body).toBe('héllo 👋');
  });

  it('uses the documented algorithms and a fresh content key and IV per message', async () => {
    const a = await sealForBob();
    const b = await sealForBob();
    expect(decodeProtectedHeader(a.envelope.jwe)).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512', cty: 'e2ee-chat.message+jws' });
    expect(base64urlDecode(a.envelope.jwe.iv)).toHaveLength(16);
    expect(base64urlDecode(a.envelope.jwe.tag)).toHaveLength(32);
    expect(base64urlDecode(a.envelope.jwe.encrypted_key)).toHaveLength(256);
    expect(a.envelope.jwe.iv).not.toBe(b.envelope.jwe.iv);
    expect(a.envelope.jwe.encrypted_key).not.toBe(b.envelope.jwe.encrypted_key);
    expect(a.payload.id).not.toBe(b.payload.id);
  });

  it('is signed inside: the plaintext is a compact EdDSA JWS over the payload', async () => {
    const { envelope } = await sealForBob();
    const cek = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'RSA-OAEP' },
        await crypto.subtle.importKey('jwk', { ...bob.encryption, alg: 'RSA-OAEP-256' }, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']),
        base64urlDecode(envelope.jwe.encrypted_key),
      ),
    );
    expect(cek).toHaveLength(64);
    const encKey = await crypto.subtle.importKey('raw', cek.slice(32), 'AES-CBC', false, ['decrypt']);
    const plaintext = utf8Decode(
      new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv: base64urlDecode(envelope.jwe.iv) }, encKey, base64urlDecode(envelope.jwe.ciphertext))),
    );
    const [header, payload, signature] = plaintext.split('.');
    expect(JSON.parse(utf8Decode(base64urlDecode(header!)))).toEqual({ alg: 'EdDSA', typ: 'e2ee-chat.message+jws' });
    expect(JSON.parse(utf8Decode(base64urlDecode(payload!)))).toMatchObject({ v: 1, from: 'alice', to: 'bob', body: 'hello thanh' });
    expect(base64urlDecode(signature!)).toHaveLength(64);
  });

  for (const field of ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'] as const) {
    it(`rejects every single flipped byte of ${field}, with the one generic error`, async () => {
      const { envelope } = await sealForBob();
      const length = base64urlDecode(envelope.jwe[field]).length;
      let rejected = 0;
      for (let i = 0; i < length; i++) {
        const tampered = { ...envelope, jwe: { ...envelope.jwe, [field]: flipByte(envelope.jwe[field], i) } };
        const err = await openAsBob(tampered).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, `byte ${i} of ${field}`).toBeInstanceOf(DecryptionFailedError);
        expect((err as DecryptionFailedError).message).toBe('decryption failed');
        rejected++;
      }
      expect(rejected).toBe(length);
    });
  }

  it('rejects a message signed by anyone but the pinned sender', async () => {
    const { envelope } = await sealHybridEnvelope({ from: 'alice', to: 'bob', body: 'forged', senderSigningKey: eve.signing, recipientEncryptionKey: bob.encryption });
    await expect(openAsBob(envelope)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('rejects a payload whose signed sender differs from the routed sender', async () => {
    const { envelope } = await sealForBob();
    await expect(openAsBob(envelope, { from: 'eve', senderVerificationKey: ed25519PublicOf(alice.signing) })).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('rejects a message addressed to someone else, even when re-encrypted to us', async () => {
    // carol forwards alice's signed words to bob: the signature holds but `to` names carol.
    const { envelope } = await sealHybridEnvelope({ from: 'alice', to: 'carol', body: 'for carol', senderSigningKey: alice.signing, recipientEncryptionKey: bob.encryption });
    await expect(openAsBob(envelope)).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('cannot be opened with another recipient key', async () => {
    const { envelope } = await sealForBob();
    await expect(openAsBob(envelope, { recipientDecryptionKey: eve.encryption })).rejects.toBeInstanceOf(DecryptionFailedError);
  });

  it('rejects swapping fields between two valid envelopes', async () => {
    const a = (await sealForBob('one')).envelope;
    const b = (await sealForBob('two')).envelope;
    for (const field of ['encrypted_key', 'iv', 'ciphertext', 'tag'] as const) {
      const mixed = { ...a, jwe: { ...a.jwe, [field]: b.jwe[field] } };
      await expect(openAsBob(mixed), field).rejects.toBeInstanceOf(DecryptionFailedError);
    }
  });
});
