/**
 * A hostile peer against the victim's session record (issue 9, item 7): the peer starts one new session
 * after another (last-resort prekeys never run out) and, in each, makes the victim skip as many message
 * keys as one state keeps. Measured: the victim's pickled record, and what one ordinary message of that
 * peer then costs, load to save (JSON.parse, unpickle, decrypt, pickle, JSON.stringify: the work the
 * client's SessionManager does per message, short of sealing the row). Baseline, same run: the same
 * message cycle on a fresh session with no skipped keys.
 *
 * Also measured: a forged message that decrypts in no state, which is tried against every kept state.
 */
import { ed25519SigningKeyFromSeed } from '../src/crypto/signing-key.js';
import { buildPreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
import { LocalIdentity } from '../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateSignedPreKey } from '../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../src/e2ee/pqxdh/stores.js';
import { MAX_SKIP, MAX_STORED_SKIPPED_KEYS } from '../src/e2ee/ratchet/constants.js';
import { pickleSessionRecord, unpickleSessionRecord } from '../src/e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession, type DecryptContext } from '../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../src/e2ee/ratchet/session-record.js';
import type { Figure } from './lib/report.js';

const PLAINTEXT = new Uint8Array(100).fill(0x61);
/** Sessions the attacker starts: 41 filled 0.1's record (40 archived + current, libsignal's numbers), so before and after compare. */
const ATTACK_SESSIONS = 41;

async function victim() {
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
  const preKeys = new InMemoryPreKeyStore();
  const signed = await generateSignedPreKey(identity, 1);
  await preKeys.saveSignedPreKey(signed);
  const lastResort = await generateKemPreKey(identity, 1, 'last-resort');
  await preKeys.saveKemPreKey(lastResort);
  // No one-time keys: the attacker's bundles carry the last-resort keys, which never run out.
  return { bundle: buildPreKeyBundle(identity, signed, lastResort), context: { identity, preKeys } satisfies DecryptContext };
}

/**
 * `sessions` new sessions from one attacker, each skipping MAX_SKIP keys per delivered message until
 * its state holds MAX_STORED_SKIPPED_KEYS. Returns the victim's record and the attacker's last session.
 */
export async function hostilePeerRecord(sessions: number): Promise<{ record: SessionRecord; attacker: SessionRecord; context: DecryptContext }> {
  const { bundle, context } = await victim();
  const attackerIdentity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
  const record = new SessionRecord();
  let attacker = new SessionRecord();
  const jumps = Math.ceil(MAX_STORED_SKIPPED_KEYS / MAX_SKIP);
  for (let s = 0; s < sessions; s++) {
    attacker = new SessionRecord();
    await initiateSession(attacker, bundle, attackerIdentity);
    for (let j = 0; j < jumps; j++) {
      let last: Uint8Array = new Uint8Array();
      for (let i = 0; i <= MAX_SKIP; i++) last = encryptMessage(attacker, PLAINTEXT); // only the last is delivered
      await decryptMessage(record, last, context);
    }
  }
  return { record, attacker, context };
}

async function freshSession(): Promise<{ record: SessionRecord; attacker: SessionRecord; context: DecryptContext }> {
  const { bundle, context } = await victim();
  const peerIdentity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
  const peer = new SessionRecord();
  await initiateSession(peer, bundle, peerIdentity);
  const record = new SessionRecord();
  await decryptMessage(record, encryptMessage(peer, PLAINTEXT), context);
  return { record, attacker: peer, context };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Per-message load → decrypt → save cycle, `count` messages, median milliseconds; returns the pickled size too. */
async function messageCycle(setup: { record: SessionRecord; attacker: SessionRecord; context: DecryptContext }, count: number) {
  let json = JSON.stringify(pickleSessionRecord(setup.record));
  const bytes = json.length;
  const messages = Array.from({ length: count }, () => encryptMessage(setup.attacker, PLAINTEXT));
  const times: number[] = [];
  for (const m of messages) {
    const t = performance.now();
    const record = unpickleSessionRecord(JSON.parse(json));
    await decryptMessage(record, m, setup.context);
    json = JSON.stringify(pickleSessionRecord(record));
    times.push(performance.now() - t);
  }
  return { bytes, ms: median(times) };
}

/** A message under a ratchet key no state knows, pn = n = MAX_SKIP: every kept state does its full skip work, then fails. */
async function forgedCycle(setup: { record: SessionRecord; attacker: SessionRecord; context: DecryptContext }, count: number) {
  const forged = encryptMessage(setup.attacker, PLAINTEXT).slice();
  const body = forged.subarray(forged[0] === 0x01 ? 0 : forged.length - (41 + 16 * Math.ceil((PLAINTEXT.length + 1) / 16) + 32));
  crypto.getRandomValues(body.subarray(1, 33)); // a new ratchet public key
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  view.setUint32(33, MAX_SKIP, false);
  view.setUint32(37, MAX_SKIP, false);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await decryptMessage(setup.record, body, setup.context).catch(() => undefined);
    times.push(performance.now() - t);
  }
  return median(times);
}

export async function ratchetBoundsBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const count = { full: 15, quick: 7, smoke: 2 }[mode];
  const sessions = mode === 'smoke' ? 3 : ATTACK_SESSIONS;
  const attacked = await hostilePeerRecord(sessions);
  const fresh = await freshSession();
  const base = await messageCycle(fresh, count);
  const hostile = await messageCycle(attacked, count);
  const forgedFresh = await forgedCycle(fresh, count);
  const forgedHostile = await forgedCycle(attacked, count);
  const baseline = (value: number) => ({ name: 'a fresh session, same run', value });
  const attack = `${sessions} sessions from one peer, each skipping ${MAX_STORED_SKIPPED_KEYS} keys`;
  return [
    { section: 'ratchet', name: `hostile peer: victim's pickled session record after ${attack}`, value: hostile.bytes / 1024, unit: 'KiB', baseline: baseline(base.bytes / 1024), ratio: base.bytes / hostile.bytes },
    { section: 'ratchet', name: 'hostile peer: one ordinary message of that peer, load + decrypt + save (median)', value: hostile.ms, unit: 'ms', baseline: baseline(base.ms), ratio: base.ms / hostile.ms },
    { section: 'ratchet', name: 'hostile peer: a forged message tried against every kept state (median)', value: forgedHostile, unit: 'ms', baseline: baseline(forgedFresh), ratio: forgedFresh / forgedHostile },
  ];
}
