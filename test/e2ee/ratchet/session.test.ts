/**
 * Sessions: PQXDH + Double Ratchet glue (session-builder.ts), session records (current + archived
 * states), versioned pickles, and the rule that live objects never print their secrets.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { base64urlDecode, hexEncode, utf8Decode, utf8Encode } from '../../../src/crypto/bytes.js';
import { DecryptionFailedError } from '../../../src/protocol/errors.js';
import { INITIAL_MESSAGE_HEADER_LENGTH } from '../../../src/e2ee/pqxdh/initial-message.js';
import { MAX_ARCHIVED_STATES } from '../../../src/e2ee/ratchet/constants.js';
import { pickleRatchetState, pickleSessionRecord, unpickleSessionRecord } from '../../../src/e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession } from '../../../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../../../src/e2ee/ratchet/session-record.js';
import { makeParty } from '../pqxdh/fixtures.js';
import { setupSession, snapshot } from './helpers.js';

function flip(bytes: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(bytes);
  out[index]! ^= 0x01;
  return out;
}

describe('sessions', () => {
  it("Bob deletes the used one-time prekeys only once Alice's first message decrypts", async () => {
    const { alice, bob } = await setupSession({ handshake: false });
    const first = alice.send('hi');
    expect(first[0]).toBe(0x02);
    await expect(bob.receive(flip(first, first.length - 1))).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(bob.party.preKeys.counts()).toEqual({ oneTime: 2, kemOneTime: 2, kemLastResort: 1 }); // a forgery burns nothing
    expect(bob.record.current).toBeUndefined();
    expect(await bob.receive(first)).toBe('hi');
    expect(bob.party.preKeys.counts()).toEqual({ oneTime: 1, kemOneTime: 1, kemLastResort: 1 });
  });

  it('rejects every single flipped byte of an initial message without creating a session or deleting a prekey', async () => {
    const { alice, bob } = await setupSession({ handshake: false });
    const first = alice.send('hello');
    for (let i = 0; i < first.length; i++) {
      await expect(bob.receive(flip(first, i))).rejects.toBeInstanceOf(DecryptionFailedError);
    }
    expect(bob.record.current).toBeUndefined();
    expect(bob.party.preKeys.counts()).toEqual({ oneTime: 2, kemOneTime: 2, kemLastResort: 1 });
    expect(await bob.receive(first)).toBe('hello');
  }, 60_000);

  it('Alice repeats the PQXDH fields until Bob answers, so a lost first message does not lose the session', async () => {
    const { alice, bob } = await setupSession({ handshake: false });
    alice.send('lost');
    const second = alice.send('arrives');
    const third = alice.send('also arrives');
    expect(second.length).toBeGreaterThan(INITIAL_MESSAGE_HEADER_LENGTH);
    expect(await bob.receive(third)).toBe('also arrives');
    expect(await bob.receive(second)).toBe('arrives'); // same EK_A: recognised, uses the existing state
    expect(bob.record.previous).toHaveLength(0);
    expect(await alice.receive(bob.send('reply'))).toBe('reply');
    expect(alice.send('now a plain ratchet message')[0]).toBe(0x01);
  });

  it('refuses a replayed initial message that used only last-resort prekeys, once its session is gone (PQXDH §4.2)', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const context = { identity: bob.identity, preKeys: bob.preKeys };
    const sender = new SessionRecord();
    await initiateSession(sender, bob.bundle({ oneTime: false, kemOneTime: false }), alice.identity);
    const first = encryptMessage(sender, utf8Encode('only last-resort keys'));
    const accepted = await decryptMessage(new SessionRecord(), first, context);
    expect(accepted.newSession?.lastResortUse).toEqual({ kemPreKeyId: bob.kemLastResort.id, signedPreKeyId: expect.any(Number), baseKey: expect.any(Uint8Array) });
    // The session that message started is gone (a fresh record); the same bytes must not start it again.
    const replay = decryptMessage(new SessionRecord(), first, context);
    await expect(replay).rejects.toBeInstanceOf(DecryptionFailedError);
    await expect(replay).rejects.toMatchObject({ cause: { message: expect.stringMatching(/replayed/) } });
    // Another initiation under the same last-resort keys is a new base key: accepted.
    const again = new SessionRecord();
    await initiateSession(again, bob.bundle({ oneTime: false, kemOneTime: false }), alice.identity);
    expect(utf8Decode((await decryptMessage(new SessionRecord(), encryptMessage(again, utf8Encode('new session')), context)).plaintext)).toBe('new session');
  });

  it('refuses a bundle or an initial message from an unexpected identity key', async () => {
    const alice = await makeParty('alice');
    const bob = await makeParty('bob');
    const mallory = await makeParty('mallory');
    await expect(initiateSession(new SessionRecord(), mallory.bundle(), alice.identity, { expectedRemoteSigningKey: bob.identity.signingPublicKey })).rejects.toMatchObject({ code: 'peer_key_changed' });
    const record = new SessionRecord();
    await initiateSession(record, bob.bundle(), alice.identity);
    const { encryptMessage } = await import('../../../src/e2ee/ratchet/session-builder.js');
    const first = encryptMessage(record, utf8Encode('x'));
    const ctx = { identity: bob.identity, preKeys: bob.preKeys, expectedRemoteSigningKey: mallory.identity.signingPublicKey };
    await expect(decryptMessage(new SessionRecord(), first, ctx)).rejects.toBeInstanceOf(DecryptionFailedError);
    const ok = await decryptMessage(new SessionRecord(), first, { ...ctx, expectedRemoteSigningKey: alice.identity.signingPublicKey });
    expect(hexEncode(ok.newSession!.remoteIdentity.signingKey)).toBe(hexEncode(alice.identity.signingPublicKey));
  });

  it('a pickle round trip mid-conversation (with skipped keys pending) continues the conversation', async () => {
    const { alice, bob } = await setupSession();
    const pending = [alice.send('p0'), alice.send('p1'), alice.send('p2')];
    await bob.receive(pending[2]!);
    alice.record = unpickleSessionRecord(JSON.parse(JSON.stringify(pickleSessionRecord(alice.record))));
    bob.record = unpickleSessionRecord(JSON.parse(JSON.stringify(pickleSessionRecord(bob.record))));
    expect(bob.record.current!.counters.skipped).toBe(2);
    expect(await bob.receive(pending[0]!)).toBe('p0');
    expect(await alice.receive(bob.send('after restore'))).toBe('after restore');
    expect(await bob.receive(alice.send('and back'))).toBe('and back');
    expect(await bob.receive(pending[1]!)).toBe('p1');
  });

  it('pickles are versioned, JSON-safe, and refuse other versions or malformed fields', async () => {
    const { bob } = await setupSession();
    const pickle = pickleSessionRecord(bob.record);
    expect(pickle.v).toBe(1);
    expect(pickle.current!.v).toBe(1);
    expect(JSON.parse(JSON.stringify(pickle))).toEqual(pickle);
    expect(() => unpickleSessionRecord({ ...pickle, v: 2 })).toThrow(TypeError);
    expect(() => unpickleSessionRecord({ ...pickle, current: { ...pickle.current!, rk: 'AAAA' } })).toThrow(TypeError);
    expect(() => unpickleSessionRecord({ ...pickle, current: { ...pickle.current!, ns: -1 } })).toThrow(TypeError);
    expect(snapshot(unpickleSessionRecord({ ...pickle, futureField: 1 }))).toBe(JSON.stringify(pickle)); // unknown fields ignored
  });

  it('live records and states never show secrets through JSON.stringify or inspect', async () => {
    const { alice, bob } = await setupSession();
    for (const record of [alice.record, bob.record]) {
      const p = pickleRatchetState(record.current!);
      const secrets = [p.rk, p.cks, p.ckr, p.dhs.secretKey].filter((s): s is string => s !== null).map((s) => hexEncode(base64urlDecode(s)));
      const shown = [JSON.stringify(record), JSON.stringify(record.current), inspect(record, { showHidden: true, depth: 10 }), inspect(record.current, { showHidden: true, depth: 10 })].join('\n');
      for (const s of secrets) {
        expect(shown).not.toContain(s);
        expect(shown).not.toContain(p.rk);
      }
      expect(JSON.stringify(record.current)).toContain(hexEncode(record.current!.ratchetPublicKey));
    }
  });

  it('simultaneous initiation converges: both sides end up in one session and every message decrypts', async () => {
    const a = await makeParty('alice');
    const b = await makeParty('bob');
    const { encryptMessage } = await import('../../../src/e2ee/ratchet/session-builder.js');
    const ra = new SessionRecord();
    const rb = new SessionRecord();
    await initiateSession(ra, b.bundle(), a.identity);
    await initiateSession(rb, a.bundle(), b.identity);
    const fromA = encryptMessage(ra, utf8Encode('A first'));
    const fromB = encryptMessage(rb, utf8Encode('B first'));
    const ctxA = { identity: a.identity, preKeys: a.preKeys };
    const ctxB = { identity: b.identity, preKeys: b.preKeys };
    expect(new TextDecoder().decode((await decryptMessage(rb, fromA, ctxB)).plaintext)).toBe('A first');
    expect(new TextDecoder().decode((await decryptMessage(ra, fromB, ctxA)).plaintext)).toBe('B first');
    expect(ra.previous).toHaveLength(1);
    expect(rb.previous).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      const m1 = encryptMessage(ra, utf8Encode(`a${i}`));
      expect(new TextDecoder().decode((await decryptMessage(rb, m1, ctxB)).plaintext)).toBe(`a${i}`);
      const m2 = encryptMessage(rb, utf8Encode(`b${i}`));
      expect(new TextDecoder().decode((await decryptMessage(ra, m2, ctxA)).plaintext)).toBe(`b${i}`);
    }
    expect(hexEncode(ra.current!.baseKey)).toBe(hexEncode(rb.current!.baseKey)); // converged on one session
  });

  it(`keeps at most MAX_ARCHIVED_STATES (${MAX_ARCHIVED_STATES}) previous states`, async () => {
    const a = await makeParty('alice', { oneTimeCount: 0, kemOneTimeCount: 0 });
    const b = await makeParty('bob', { oneTimeCount: 0, kemOneTimeCount: 0 });
    const record = new SessionRecord();
    for (let i = 0; i < MAX_ARCHIVED_STATES + 3; i++) await initiateSession(record, b.bundle(), a.identity);
    expect(record.previous).toHaveLength(MAX_ARCHIVED_STATES);
  });
});

describe('session store', () => {
  it('keeps pickles, so a record restored from the in-memory store continues the conversation', async () => {
    const { InMemorySessionStore } = await import('../../../src/e2ee/ratchet/session-store.js');
    const { alice, bob } = await setupSession();
    const store = new InMemorySessionStore();
    await store.storeSession('alice', pickleSessionRecord(bob.record));
    bob.record = unpickleSessionRecord(await store.loadSession('alice'));
    expect(await bob.receive(alice.send('via the store'))).toBe('via the store');
    await store.deleteSession('alice');
    expect(await store.loadSession('alice')).toBeUndefined();
  });
});
