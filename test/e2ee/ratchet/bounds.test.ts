/**
 * A session record stays bounded against a hostile peer (issue 9, item 7): the peer can start any number
 * of sessions under the victim's last-resort prekeys and make each skip as many keys as a state keeps.
 * The limits are in src/e2ee/ratchet/constants.ts; legitimate out-of-order delivery within them still works.
 */
import { describe, expect, it } from 'vitest';
import { hexEncode, utf8Decode, utf8Encode, type Bytes } from '../../../src/crypto/bytes.js';
import {
  MAX_ARCHIVED_STATES,
  MAX_ARCHIVED_STATES_BYTES,
  MAX_ARCHIVED_STATES_IN_PICKLE,
  MAX_SESSION_RECORD_BYTES,
  MAX_SKIP,
  MAX_SKIPPED_KEYS_PER_SESSION,
  MAX_STORED_SKIPPED_KEYS,
} from '../../../src/e2ee/ratchet/constants.js';
import { pickleRatchetState, pickleSessionRecord, unpickleSessionRecord, type SessionRecordPickle } from '../../../src/e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession } from '../../../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../../../src/e2ee/ratchet/session-record.js';
import { pickledStateSize } from '../../../src/e2ee/ratchet/state-size.js';
import type { RatchetState } from '../../../src/e2ee/ratchet/state.js';
import { makeParty } from '../pqxdh/fixtures.js';
import { setupSession } from './helpers.js';

const pickledBytes = (record: SessionRecord) => JSON.stringify(pickleSessionRecord(record)).length;
const skippedIn = (record: SessionRecord) => [record.current, ...record.previous].reduce((n, s) => n + (s?.counters.skipped ?? 0), 0);
const archivedBytes = (record: SessionRecord) => record.previous.reduce((n, s) => n + JSON.stringify(pickleRatchetState(s)).length, 0);

/**
 * The hostile worst case: `sessions` new sessions from one peer, each filling its state with skipped keys
 * (MAX_SKIP per delivered message). Returns the victim's record, the peer's last session and the base
 * keys of the peer's sessions, oldest first.
 */
async function hostilePeer(sessions: number) {
  const attacker = await makeParty('mallory', { oneTimeCount: 0, kemOneTimeCount: 0 });
  const victim = await makeParty('bob', { oneTimeCount: 0, kemOneTimeCount: 0 });
  const context = { identity: victim.identity, preKeys: victim.preKeys };
  const record = new SessionRecord();
  const baseKeys: string[] = [];
  let last = new SessionRecord();
  for (let s = 0; s < sessions; s++) {
    last = new SessionRecord();
    await initiateSession(last, victim.bundle(), attacker.identity);
    baseKeys.push(hexEncode(last.current!.baseKey));
    for (let jump = 0; jump < MAX_STORED_SKIPPED_KEYS / MAX_SKIP; jump++) {
      let delivered: Bytes = new Uint8Array();
      for (let i = 0; i <= MAX_SKIP; i++) delivered = encryptMessage(last, utf8Encode(`s${s} m${i}`)); // only the last arrives
      await decryptMessage(record, delivered, context);
    }
  }
  return { record, attacker: last, baseKeys, context };
}

describe('session record bounds (hostile peer)', () => {
  it(`many new sessions each skipping MAX_SKIP keep the pickled record under MAX_SESSION_RECORD_BYTES (${MAX_SESSION_RECORD_BYTES} B)`, async () => {
    const { record, attacker, baseKeys, context } = await hostilePeer(MAX_ARCHIVED_STATES + 2);
    const bytes = pickledBytes(record);
    console.log(`hostile peer, ${baseKeys.length} sessions × ${MAX_STORED_SKIPPED_KEYS} skipped keys: pickled record ${bytes} B (bound ${MAX_SESSION_RECORD_BYTES} B)`);
    expect(bytes).toBeLessThanOrEqual(MAX_SESSION_RECORD_BYTES);
    expect(skippedIn(record)).toBe(MAX_SKIPPED_KEYS_PER_SESSION);
    expect(record.previous.length).toBeLessThanOrEqual(MAX_ARCHIVED_STATES);
    expect(archivedBytes(record)).toBeLessThanOrEqual(MAX_ARCHIVED_STATES_BYTES);
    // Oldest go first: the current state keeps all its keys, the newest archived state the rest of the
    // budget, older ones none; the states kept are the newest sessions, in order.
    expect(record.current!.counters.skipped).toBe(MAX_STORED_SKIPPED_KEYS);
    expect(record.previous[0]!.counters.skipped).toBe(MAX_SKIPPED_KEYS_PER_SESSION - MAX_STORED_SKIPPED_KEYS);
    expect(record.previous.slice(1).map((s) => s.counters.skipped)).toEqual(record.previous.slice(1).map(() => 0));
    const kept = [record.current!, ...record.previous].map((s) => hexEncode(s.baseKey));
    expect(kept).toEqual(baseKeys.slice(-kept.length).reverse());
    expect(record.previous.length).toBe(MAX_ARCHIVED_STATES);
    // The peer's live session still works, and the bound holds across a pickle round trip.
    const restored = unpickleSessionRecord(JSON.parse(JSON.stringify(pickleSessionRecord(record))));
    expect(utf8Decode((await decryptMessage(restored, encryptMessage(attacker, utf8Encode('still here')), context)).plaintext)).toBe('still here');
    expect(pickledBytes(restored)).toBeLessThanOrEqual(MAX_SESSION_RECORD_BYTES);
  }, 60_000);

  it('archived states over MAX_ARCHIVED_STATES_BYTES lose the oldest keys first, before any state goes', async () => {
    const { alice, bob } = await setupSession();
    const fromBob = Array.from({ length: 2 * MAX_SKIP + 2 }, (_, i) => bob.send(`b${i}`));
    await alice.receive(fromBob[MAX_SKIP]!);
    await alice.receive(fromBob[2 * MAX_SKIP + 1]!); // Alice's session now holds 2 × MAX_SKIP skipped keys
    const established = hexEncode(alice.record.current!.baseKey);
    // Alice starts new sessions that get no reply: each archived one keeps its PQXDH initial message.
    for (let i = 0; i < MAX_ARCHIVED_STATES; i++) await initiateSession(alice.record, bob.party.bundle(), alice.party.identity);
    expect(alice.record.previous).toHaveLength(MAX_ARCHIVED_STATES);
    const oldest = alice.record.previous.at(-1)!;
    expect(hexEncode(oldest.baseKey)).toBe(established);
    expect(archivedBytes(alice.record)).toBeLessThanOrEqual(MAX_ARCHIVED_STATES_BYTES);
    expect(oldest.counters.skipped).toBeGreaterThan(0);
    expect(oldest.counters.skipped).toBeLessThan(2 * MAX_SKIP); // lost its oldest keys to the byte cap, not the whole state
    // Its newest keys still open the late messages they belong to.
    expect(await alice.receive(fromBob[2 * MAX_SKIP]!)).toBe(`b${2 * MAX_SKIP}`);
    await expect(alice.receive(fromBob[0]!)).rejects.toThrow();
  });

  it('a record saved by 0.1 with 40 full archived states loads trimmed to the limits', async () => {
    const { record } = await hostilePeer(1);
    const state = pickleSessionRecord(record).current!;
    const old: SessionRecordPickle = { v: 1, current: state, previous: Array.from({ length: MAX_ARCHIVED_STATES_IN_PICKLE }, () => state) };
    expect(JSON.stringify(old).length).toBeGreaterThan(8 * MAX_SESSION_RECORD_BYTES);
    const loaded = unpickleSessionRecord(JSON.parse(JSON.stringify(old)));
    expect(loaded.previous.length).toBeLessThanOrEqual(MAX_ARCHIVED_STATES);
    expect(skippedIn(loaded)).toBeLessThanOrEqual(MAX_SKIPPED_KEYS_PER_SESSION);
    expect(pickledBytes(loaded)).toBeLessThanOrEqual(MAX_SESSION_RECORD_BYTES);
  });

  it('out-of-order delivery within the limits still decrypts every message, in the live session and in a replaced one', async () => {
    const { alice, bob } = await setupSession();
    // A full MAX_SKIP window, delivered last first then backwards.
    const window = Array.from({ length: MAX_SKIP + 1 }, (_, i) => alice.send(`w${i}`));
    for (let i = window.length - 1; i >= 0; i--) expect(await bob.receive(window[i]!)).toBe(`w${i}`);
    // Messages of a session that gets replaced arrive after the replacement: the archived state opens them.
    const late = Array.from({ length: 50 }, (_, i) => alice.send(`late${i}`));
    expect(await bob.receive(late[49]!)).toBe('late49'); // Bob skips 49 keys in the old session
    const oldBaseKey = hexEncode(bob.record.current!.baseKey);
    await initiateSession(alice.record, bob.party.bundle(), alice.party.identity); // Alice starts a new session
    expect(await bob.receive(alice.send('new session'))).toBe('new session');
    expect(bob.record.previous.map((s) => hexEncode(s.baseKey))).toContain(oldBaseKey);
    for (let i = 48; i >= 0; i--) expect(await bob.receive(late[i]!)).toBe(`late${i}`);
  }, 60_000);

  it('pickledStateSize is the exact length of the pickle, with and without skipped keys or a pending initial message', async () => {
    const { alice, bob } = await setupSession({ handshake: false });
    const states: RatchetState[] = [alice.record.current!]; // pending initial message, no receiving chain
    const messages = Array.from({ length: 12 }, (_, i) => alice.send(`m${i}`));
    await bob.receive(messages[11]!); // 11 skipped, counters of several digits below
    states.push(bob.record.current!);
    await alice.receive(bob.send('reply'));
    states.push(alice.record.current!);
    for (const s of states) expect(pickledStateSize(s)).toBe(JSON.stringify(pickleRatchetState(s)).length);
  });
});
