/**
 * The member credential's bytes (src/e2ee/mls/member-credential.ts) and the identity check that holds a
 * leaf to its user's verified device list (src/e2ee/mls/device-identity-check.ts).
 */
import { describe, expect, it } from 'vitest';
import { hexEncode, randomBytes } from '../../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../../src/crypto/ed25519-keygen.js';
import { checkMemberIdentity } from '../../../src/e2ee/mls/device-identity-check.js';
import { decodeMemberCredential, encodeMemberIdentity, memberCredential } from '../../../src/e2ee/mls/member-credential.js';
import { verifiedList } from './mls-world.js';

describe('member credential', () => {
  it('encodes (user, device) as 0x01 || L || name || uint32 id, and decodes it back', () => {
    expect(hexEncode(encodeMemberIdentity({ username: 'alice', deviceId: 2 }))).toBe('0105616c69636500000002');
    expect(decodeMemberCredential(memberCredential({ username: 'alice', deviceId: 2 }))).toEqual({ username: 'alice', deviceId: 2 });
  });

  it('refuses anything that is not exactly that', () => {
    const good = encodeMemberIdentity({ username: 'bob', deviceId: 1 });
    const basic = (identity: Uint8Array) => decodeMemberCredential({ credentialType: 'basic', identity });
    expect(basic(Uint8Array.of(...good, 0))).toBeUndefined(); // trailing byte
    expect(basic(Uint8Array.of(0x02, ...good.subarray(1)))).toBeUndefined(); // unknown format
    expect(basic(Uint8Array.of(0x01, 3, 0x42, 0x6f, 0x62, 0, 0, 0, 1))).toBeUndefined(); // "Bob": not a username
    expect(basic(Uint8Array.of(0x01, 3, 0x62, 0x6f, 0x62, 0, 0, 0, 0))).toBeUndefined(); // device 0
    expect(basic(Uint8Array.of(0x01, 3, 0x62, 0x6f, 0x62, 0x80, 0, 0, 0))).toBeUndefined(); // device above 2^31-1
    expect(decodeMemberCredential({ credentialType: 'x509', certificates: [good] })).toBeUndefined();
    expect(() => encodeMemberIdentity({ username: 'bob', deviceId: 0 })).toThrow(RangeError);
  });
});

describe('identity check against the verified device list', () => {
  const k1 = ed25519PublicKeyFromSecret(randomBytes(32));
  const k2 = ed25519PublicKeyFromSecret(randomBytes(32));

  it('accepts a listed device with its listed key, and says why it refuses anything else', async () => {
    const list = await verifiedList('bob', [
      { deviceId: 1, signingKey: k1 },
      { deviceId: 2, signingKey: k2 },
    ]);
    const lists = (u: string) => (u === 'bob' ? list : undefined);
    const check = (username: string, deviceId: number, key: Uint8Array) => checkMemberIdentity(memberCredential({ username, deviceId }), key, lists);
    expect(await check('bob', 2, k2)).toEqual({ ok: true, member: { username: 'bob', deviceId: 2 } });
    expect(await check('bob', 2, k1)).toMatchObject({ ok: false, reason: 'signature_key_mismatch' });
    expect(await check('bob', 3, k2)).toMatchObject({ ok: false, reason: 'device_not_listed' });
    expect(await check('carol', 1, k1)).toMatchObject({ ok: false, reason: 'no_verified_list' });
    expect(await checkMemberIdentity({ credentialType: 'basic', identity: new Uint8Array([1]) }, k1, lists)).toEqual({ ok: false, reason: 'not_our_credential' });
  });

  it('refuses a list filed under another user than the credential names', async () => {
    const list = await verifiedList('bob', [{ deviceId: 1, signingKey: k1 }]);
    expect(await checkMemberIdentity(memberCredential({ username: 'carol', deviceId: 1 }), k1, () => list)).toMatchObject({ ok: false, reason: 'no_verified_list' });
  });
});
