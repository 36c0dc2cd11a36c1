/**
 * Fan-out (issue 10, Benchmark): protocol 2 seals a message once per device it goes to (docs/PROTOCOL.md
 * §21.4), so a recipient with N devices costs N sessions to set up and N encryptions per message. Measured
 * for N = 1, 2 and 5: (a) the first message to N devices never written to (PQXDH per device), (b) a
 * message on established sessions (each device has replied: plain ratchet messages).
 *
 * Level: SessionManager.seal once per device, as MessageSealer calls it, on a MemoryRatchetStore, with a
 * fetchBundle callback handing out prebuilt bundles. That is all of the client's per-device crypto and
 * session work (load, PQXDH, encrypt, size check, pickle, compare-and-swap save) without a server.
 * MessageSealer itself is not driven: above this it only asks the directories (once per connection, over
 * the network: not CPU work of the fan-out) and writes the outbox once per message, whatever N is. The
 * bundle fetch, one server round trip per new device, is not in these figures either.
 *
 * Baselines, interleaved round by round with their subject in the same run (this machine's speed drifts):
 *  - (a) N × bare initiateSession + encryptMessage on a new SessionRecord: the protocol work the first
 *    message cannot avoid, so the ratio is the client's overhead on top of PQXDH;
 *  - (b) N × bare encryptMessage on established in-memory records: the ratchet step alone, so the ratio is
 *    the client's overhead (payload JSON, base64url, pickle and store save) per copy;
 *  - per device at N devices against per device at 1 device, of the client itself: ≈ 1× says fan-out is
 *    linear (nothing shared across devices is paid N times, nothing per device grows with N).
 * ML-KEM-1024 is liboqs in WebAssembly, as the Node entry points install it (see ratchet.ts).
 */
import { ed25519SigningKeyFromSeed } from '../src/crypto/signing-key.js';
import { MemoryRatchetStore } from '../src/client/ratchet-store.js';
import { SessionManager } from '../src/client/session-manager.js';
import { loadOrCreateIdentity } from '../src/client/local-prekeys.js';
import { addressText, type Address } from '../src/client/address.js';
import { base64urlDecode, base64urlEncode, utf8Encode } from '../src/crypto/bytes.js';
import { installMlKem1024 } from '../src/crypto/mlkem.js';
import { loadLibOqsMlKem1024 } from '../src/crypto/mlkem-liboqs.js';
import { installNodeCrypto } from '../src/crypto/node/node-crypto.js';
import type { MessagePayload } from '../src/e2ee/message-payload.js';
import { buildPreKeyBundle, type PreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
import { LocalIdentity } from '../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey } from '../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../src/e2ee/pqxdh/stores.js';
import { decryptMessage, encryptMessage, initiateSession } from '../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../src/e2ee/ratchet/session-record.js';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../src/protocol/limits.js';
import type { Figure } from './lib/report.js';
import { compare, median, roundsOf } from './lib/rounds.js';

const DEVICE_COUNTS = [1, 2, 5] as const;
const MAX_DEVICES = 5;
/** Copies sealed per timed call, whatever the device count (see `series`); each count divides it. */
const COPIES = 10;
const BODY = 'a'.repeat(100);
const MESSAGE_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** One device of the recipient: its own identity and prekeys (a bundle per session set up with it). */
async function recipientDevice() {
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
  const preKeys = new InMemoryPreKeyStore();
  const signed = await generateSignedPreKey(identity, 1);
  await preKeys.saveSignedPreKey(signed);
  const bundles: PreKeyBundle[] = [];
  let nextId = 1;
  return {
    identity,
    preKeys,
    /** Prebuilt before timing: making one runs an ML-KEM keygen, which is the recipient's work, not ours. */
    async prepare(count: number) {
      for (let i = 0; i < count; i++, nextId++) {
        const kem = await generateKemPreKey(identity, nextId, 'one-time');
        const [oneTime] = await generateOneTimePreKeys(nextId, 1);
        await preKeys.saveKemPreKey(kem);
        await preKeys.saveOneTimePreKey(oneTime!);
        bundles.push(buildPreKeyBundle(identity, signed, kem, oneTime));
      }
    },
    take(): PreKeyBundle {
      const bundle = bundles.pop();
      if (!bundle) throw new Error('bench: the bundle pool ran dry (miscounted)');
      return bundle;
    },
  };
}

const payloadTo = (to: string): MessagePayload => ({ v: 2, kind: 'message', from: 'alice', fromDevice: 1, to, id: MESSAGE_ID, sentAt: Date.now(), body: BODY });

export async function fanOutBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  await installNodeCrypto();
  const liboqs = await loadLibOqsMlKem1024(); // rejects rather than quietly keeping @noble: the label must hold
  installMlKem1024(liboqs);
  const n = { full: { rounds: 18, first: 3, established: 40, warm: 1 }, quick: { rounds: 12, first: 2, established: 20, warm: 1 }, smoke: { rounds: 1, first: 1, established: 1, warm: 1 } }[mode];

  const devices = await Promise.all(Array.from({ length: MAX_DEVICES }, recipientDevice));
  const device = (d: number) => devices[d - 1]!;
  // Bundles for device d: one per first message of each series that reaches it (client and bare), and two
  // for setting up the established sessions.
  for (let d = 1; d <= MAX_DEVICES; d++) {
    const messages = DEVICE_COUNTS.filter((count) => count >= d).reduce((sum, count) => sum + COPIES / count, 0);
    await device(d).prepare(2 + messages * 2 * (n.warm + n.rounds * n.first));
  }

  const secret = crypto.getRandomValues(new Uint8Array(32));
  const store = new MemoryRatchetStore();
  const me = await loadOrCreateIdentity(store, ed25519SigningKeyFromSeed(secret), Date.now()); // the identity the SessionManager reads
  const sessions = new SessionManager({ store, signingKey: ed25519SigningKeyFromSeed(secret), fetchBundle: async (a: Address) => device(a.device).take(), onPreKeysConsumed: () => undefined });
  const seal = (to: Address) => sessions.seal(to, device(to.device).identity.signingPublicKey, payloadTo(to.user), true, DEFAULT_MAX_ENVELOPE_BYTES);
  // The bare baselines encrypt the same bytes the client's copies carry.
  const plaintext = utf8Encode(JSON.stringify(payloadTo('bob')));

  // (a) Each call writes to a recipient never seen before: no session with any of its devices.
  let recipients = 0;
  const firstMessage = (count: number) => async () => {
    const user = `new${recipients++}`;
    for (let d = 1; d <= count; d++) await seal({ user, device: d });
  };
  const bareFirstMessage = (count: number) => async () => {
    for (let d = 1; d <= count; d++) {
      const record = new SessionRecord();
      await initiateSession(record, device(d).take(), me, { expectedRemoteSigningKey: device(d).identity.signingPublicKey });
      encryptMessage(record, plaintext);
    }
  };

  // (b) Sessions with bob's five devices, each answered once, through the client and bare.
  const bare: SessionRecord[] = [];
  for (let d = 1; d <= MAX_DEVICES; d++) {
    const address = { user: 'bob', device: d };
    const ctx = { identity: device(d).identity, preKeys: device(d).preKeys };
    const reply = async (initial: Uint8Array) => {
      const theirs = new SessionRecord();
      await decryptMessage(theirs, initial, ctx);
      const payload: MessagePayload = { v: 2, kind: 'message', from: 'bob', fromDevice: d, to: 'alice', id: MESSAGE_ID, sentAt: Date.now(), body: BODY };
      return encryptMessage(theirs, utf8Encode(JSON.stringify(payload)));
    };
    const answer = await reply(base64urlDecode((await seal(address)).body));
    await sessions.open(address, 'alice', `srv-${addressText(address)}`, { type: 'ratchet', v: 1, body: base64urlEncode(answer) }, device(d).identity.signingPublicKey, async () => undefined);
    const record = new SessionRecord();
    await initiateSession(record, device(d).take(), me, { expectedRemoteSigningKey: device(d).identity.signingPublicKey });
    await decryptMessage(record, await reply(encryptMessage(record, plaintext)), { identity: me, preKeys: new InMemoryPreKeyStore() });
    bare.push(record);
  }
  const established = (count: number) => async () => {
    for (let d = 1; d <= count; d++) await seal({ user: 'bob', device: d });
  };
  const bareEstablished = (count: number) => async () => {
    for (let d = 1; d <= count; d++) encryptMessage(bare[d - 1]!, plaintext);
  };

  // Columns 2i and 2i + 1: the client and its bare baseline for DEVICE_COUNTS[i]. A call of each seals
  // COPIES copies (10 messages to one device, 5 to two, 2 to five), so every column runs about as long and
  // meets the same noise (GC pauses of a few ms here); the rows are then turned back into ms per message.
  type Fanning = (count: number) => () => Promise<void>;
  const series = (client: Fanning, baseline: Fanning) =>
    DEVICE_COUNTS.flatMap((count) => [client(count), baseline(count)].map((one) => async () => {
      for (let i = 0; i < COPIES / count; i++) await one();
    }));
  const measure = async (subjects: Array<() => Promise<void>>, per: number) => {
    for (const f of subjects) for (let i = 0; i < n.warm; i++) await f(); // warm-up (the first also leaves the DH step behind)
    const rows = await roundsOf(n.rounds, per, subjects, { rotate: true });
    return rows.map((row) => row.map((ms, column) => (ms * DEVICE_COUNTS[column >> 1]!) / COPIES));
  };
  const first = await measure(series(firstMessage, bareFirstMessage), n.first);
  const steady = await measure(series(established, bareEstablished), n.established);

  const figures = (rows: number[][], what: string, how: string, bareName: string): Figure[] => {
    const totals = DEVICE_COUNTS.map((count, i): Figure => {
      const c = compare(rows, 2 * i, 2 * i + 1);
      const devicesName = `${count} device${count === 1 ? '' : 's'}`;
      return { section: 'fanout', name: `fan-out seal, ${what}, ${devicesName} (${how}; median of rounds)`, value: c.subjectMs, unit: 'ms', baseline: { name: `${bareName} ×${count}, interleaved in the same run`, value: c.baselineMs }, ratio: c.ratio };
    });
    // Linearity: the client's cost per device at N devices against its cost at one, round by round.
    const perDevice = DEVICE_COUNTS.slice(1).map((count): Figure => {
      const i = DEVICE_COUNTS.indexOf(count);
      return {
        section: 'fanout',
        name: `fan-out seal, ${what}, per device at ${count} devices`,
        value: median(rows.map((r) => r[2 * i]! / count)),
        unit: 'ms',
        baseline: { name: 'per device at 1 device, same rounds (1× = linear)', value: median(rows.map((r) => r[0]!)) },
        ratio: median(rows.map((r) => r[0]! / (r[2 * i]! / count))),
      };
    });
    return [...totals, ...perDevice];
  };
  return [
    ...figures(first, 'first message', `PQXDH each, ML-KEM via ${liboqs.name}`, 'bare initiateSession + encryptMessage'),
    ...figures(steady, 'established sessions', 'plain ratchet messages', 'bare encryptMessage on in-memory records'),
  ];
}
