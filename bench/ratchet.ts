/**
 * Benchmark of the pure protocol core: PQXDH session setup and the Double Ratchet.
 * Run as part of `npm run bench` (section "ratchet").
 *
 * Each figure prints beside its baseline: libsignal-client 0.103 (native Rust) measured on this machine,
 * a fixed reference. Because this machine's speed varies from run to run by up to 2×, setup and ping-pong
 * are also given against a baseline measured in the same run: the cost of the primitives they cannot
 * avoid (the X25519, Ed25519 and ML-KEM operations they make, counted, each timed alone).
 * The hostile-peer figures (a session record under attack) come from ratchet-bounds.ts; a receiving
 * client through SessionManager and the SQLite store, with its store work per message, from local-keys.ts.
 */
import { utf8Encode } from '../src/crypto/bytes.js';
import { ed25519Verify } from '../src/crypto/ed25519.js';
import { mlkem1024Decapsulate, mlkem1024Encapsulate, mlkem1024GenerateKeyPair } from '../src/crypto/mlkem.js';
import { installNativeCrypto, nativeCrypto, type NativeCrypto } from '../src/crypto/native.js';
import { installNodeCrypto } from '../src/crypto/node/node-crypto.js';
import { X25519KeyPair } from '../src/crypto/x25519.js';
import { x25519Backend } from '../src/crypto/x25519.js';
import { buildPreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
import { signedPreKeyMessage } from '../src/e2ee/pqxdh/encoding.js';
import { LocalIdentity } from '../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey } from '../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../src/e2ee/pqxdh/stores.js';
import { decryptMessage, encryptMessage, initiateSession } from '../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../src/e2ee/ratchet/session-record.js';
import type { Figure } from './lib/report.js';
import { localKeysBench } from './local-keys.js';
import { ratchetBoundsBench } from './ratchet-bounds.js';

const BASELINE = { setupMs: 1.08, encPerSec: 12_400, decPerSec: 11_200, pingPongPerSec: 3_660, overheadBytes: 101 };
const PLAINTEXT = new Uint8Array(100).fill(0x61);

async function party(oneTimeCount: number) {
  const identity = await LocalIdentity.generate(crypto.getRandomValues(new Uint8Array(32)));
  const preKeys = new InMemoryPreKeyStore();
  const signed = await generateSignedPreKey(identity, 1);
  await preKeys.saveSignedPreKey(signed);
  const kems = Array.from({ length: oneTimeCount }, (_, i) => generateKemPreKey(identity, 10_000 + i, 'one-time'));
  for (const k of kems) await preKeys.saveKemPreKey(k);
  const opks = await generateOneTimePreKeys(1, oneTimeCount);
  for (const k of opks) await preKeys.saveOneTimePreKey(k);
  const bundles = kems.map((k, i) => buildPreKeyBundle(identity, signed, k, opks[i]));
  return { identity, preKeys, bundles };
}

async function established() {
  const alice = await party(0);
  const bob = await party(1);
  const ra = new SessionRecord();
  const rb = new SessionRecord();
  await initiateSession(ra, bob.bundles[0]!, alice.identity);
  const ctxA = { identity: alice.identity, preKeys: alice.preKeys };
  const ctxB = { identity: bob.identity, preKeys: bob.preKeys };
  await decryptMessage(rb, encryptMessage(ra, utf8Encode('hi')), ctxB);
  await decryptMessage(ra, encryptMessage(rb, utf8Encode('hi')), ctxA);
  return { ra, rb, ctxA, ctxB };
}

async function stream(count: number): Promise<{ enc: number; dec: number }> {
  const { ra, rb, ctxB } = await established();
  for (let i = 0; i < 500; i++) await decryptMessage(rb, encryptMessage(ra, PLAINTEXT), ctxB); // warm-up
  const messages: Uint8Array[] = [];
  let t = performance.now();
  for (let i = 0; i < count; i++) messages.push(encryptMessage(ra, PLAINTEXT));
  const enc = count / ((performance.now() - t) / 1000);
  t = performance.now();
  for (const m of messages) await decryptMessage(rb, m, ctxB);
  return { enc, dec: count / ((performance.now() - t) / 1000) };
}

async function reverseMs(count: number): Promise<number> {
  const { ra, rb, ctxB } = await established();
  const messages = Array.from({ length: count }, () => encryptMessage(ra, PLAINTEXT));
  const t = performance.now();
  for (let i = count - 1; i >= 0; i--) await decryptMessage(rb, messages[i]!, ctxB);
  return performance.now() - t;
}

type Counts = Record<'x25519Generate' | 'x25519Derive' | 'ed25519Verify', number>;

/** Runs `work` with the native implementation wrapped to count X25519 and Ed25519 calls. */
async function countNativeCalls(work: () => Promise<void>): Promise<Counts> {
  const inner = nativeCrypto()!;
  const counts: Counts = { x25519Generate: 0, x25519Derive: 0, ed25519Verify: 0 };
  const counting: NativeCrypto = {
    ...inner,
    x25519Generate: () => (counts.x25519Generate++, inner.x25519Generate()),
    x25519Derive: (h, p) => (counts.x25519Derive++, inner.x25519Derive(h, p)),
    ed25519Verify: (s, m, k) => (counts.ed25519Verify++, inner.ed25519Verify(s, m, k)),
  };
  installNativeCrypto(counting);
  try {
    await work();
  } finally {
    installNativeCrypto(inner);
  }
  return counts;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Times `subject` and `baseline` alternately, `per` calls of each per round, and returns the medians over
 * the rounds: per-call milliseconds of each and the per-round ratio baseline / subject. This machine's
 * speed drifts within a run; alternating in short rounds makes both see the same conditions.
 */
async function interleaved(rounds: number, per: number, subject: () => Promise<void>, baseline: () => Promise<void>) {
  const time = async (f: () => Promise<void>) => {
    const t = performance.now();
    for (let i = 0; i < per; i++) await f();
    return (performance.now() - t) / per;
  };
  const s: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    s.push(await time(subject));
    b.push(await time(baseline));
  }
  return { subjectMs: median(s), baselineMs: median(b), ratio: median(s.map((x, i) => b[i]! / x)) };
}

/** The X25519, Ed25519 and ML-KEM work of `counts`, for real, on fixed inputs. */
async function primitivesOf(counts: Counts, withKem: boolean): Promise<() => Promise<void>> {
  const a = await X25519KeyPair.generate();
  const b = await X25519KeyPair.generate();
  const identity = await LocalIdentity.generate(crypto.getRandomValues(new Uint8Array(32)));
  const signed = await generateSignedPreKey(identity, 1);
  const message = signedPreKeyMessage(signed.keyPair.publicKey);
  const kem = mlkem1024GenerateKeyPair();
  const { ciphertext } = mlkem1024Encapsulate(kem.publicKey);
  return async () => {
    for (let i = 0; i < counts.ed25519Verify; i++) ed25519Verify(signed.signature, message, identity.signingPublicKey);
    for (let i = 0; i < counts.x25519Generate; i++) await X25519KeyPair.generate();
    for (let i = 0; i < counts.x25519Derive; i++) await a.agree(b.publicKey);
    if (withKem) {
      mlkem1024Encapsulate(kem.publicKey);
      mlkem1024Decapsulate(ciphertext, kem.secretKey);
    }
  };
}

/** Session setup (PQXDH both sides + the first message), and the primitives it runs, interleaved. */
async function setup(rounds: number, per: number) {
  const alice = await party(0);
  const bob = await party(rounds * per + 21);
  let next = 0;
  const one = async () => {
    const ra = new SessionRecord();
    await initiateSession(ra, bob.bundles[next++]!, alice.identity);
    await decryptMessage(new SessionRecord(), encryptMessage(ra, PLAINTEXT), { identity: bob.identity, preKeys: bob.preKeys });
  };
  const counts = await countNativeCalls(one);
  const primitives = await primitivesOf(counts, true); // one encapsulation and one decapsulation (PROTOCOL.md §16.6)
  for (let i = 0; i < 20; i++) await one(); // warm-up
  return { counts, ...(await interleaved(rounds, per, one, primitives)) };
}

/** Ping-pong (every message a DH ratchet step), and the primitives one message runs, interleaved. */
async function pingPong(rounds: number, per: number) {
  const { ra, rb, ctxA, ctxB } = await established();
  let i = 0;
  const step = async () => {
    if (i++ % 2 === 0) await decryptMessage(rb, encryptMessage(ra, PLAINTEXT), ctxB);
    else await decryptMessage(ra, encryptMessage(rb, PLAINTEXT), ctxA);
  };
  const counts = await countNativeCalls(step);
  const primitives = await primitivesOf(counts, false);
  for (let w = 0; w < 100; w++) await step(); // warm-up
  return { counts, ...(await interleaved(rounds, per, step, primitives)) };
}

async function overhead(): Promise<number> {
  const { ra } = await established();
  return encryptMessage(ra, PLAINTEXT).length - PLAINTEXT.length;
}

/** The ratchet section: each figure beside libsignal-client 0.103 measured on this machine (fixed). */
export async function ratchetBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  if (!nativeCrypto()) installNodeCrypto(); // what the library's Node entry does
  const n = { full: { rounds: 15, setup: 15, stream: 20_000, ping: 200 }, quick: { rounds: 7, setup: 8, stream: 5_000, ping: 100 }, smoke: { rounds: 1, setup: 2, stream: 50, ping: 20 } }[mode];
  const su = await setup(n.rounds, n.setup);
  const s = await stream(n.stream);
  const pp = await pingPong(n.rounds, n.ping);
  const reverse = await reverseMs(mode === 'smoke' ? 50 : 1_000);
  const added = await overhead();
  const bounds = await ratchetBoundsBench(mode);
  const localKeys = await localKeysBench(mode);
  const ref = 'libsignal 0.103, fixed reference';
  const setupMs = su.subjectMs;
  const ping = 1000 / pp.subjectMs;
  const primitivesName = (k: Counts, kem: string) =>
    `its primitives alone, interleaved in the same run: ${k.ed25519Verify} Ed25519 verify, ${k.x25519Generate} X25519 keygen, ${k.x25519Derive} X25519${kem}`;
  return [
    { section: 'ratchet', name: `session setup, PQXDH + first message (X25519 via ${await x25519Backend()}; median of rounds)`, value: setupMs, unit: 'ms', baseline: { name: ref, value: BASELINE.setupMs }, ratio: BASELINE.setupMs / setupMs, target: '≤ libsignal', met: setupMs <= BASELINE.setupMs },
    { section: 'ratchet', name: 'session setup vs the primitives it must run', value: setupMs, unit: 'ms', baseline: { name: primitivesName(su.counts, ', ML-KEM-1024 encaps + decaps'), value: su.baselineMs }, ratio: su.ratio },
    { section: 'ratchet', name: 'stream of 100-byte messages: encrypt', value: s.enc, unit: '/s', baseline: { name: ref, value: BASELINE.encPerSec }, ratio: s.enc / BASELINE.encPerSec, target: '≥ libsignal', met: s.enc >= BASELINE.encPerSec },
    { section: 'ratchet', name: 'stream of 100-byte messages: decrypt', value: s.dec, unit: '/s', baseline: { name: ref, value: BASELINE.decPerSec }, ratio: s.dec / BASELINE.decPerSec, target: '≥ libsignal', met: s.dec >= BASELINE.decPerSec },
    { section: 'ratchet', name: 'ping-pong (a DH ratchet step per message; median of rounds)', value: ping, unit: 'msg/s', baseline: { name: ref, value: BASELINE.pingPongPerSec }, ratio: ping / BASELINE.pingPongPerSec, target: '≥ libsignal', met: ping >= BASELINE.pingPongPerSec },
    { section: 'ratchet', name: 'ping-pong vs the primitives it must run', value: ping, unit: 'msg/s', baseline: { name: primitivesName(pp.counts, ''), value: 1000 / pp.baselineMs }, ratio: pp.ratio },
    { section: 'ratchet', name: `${mode === 'smoke' ? 50 : 1000} messages decrypted in reverse order`, value: reverse, unit: 'ms' },
    { section: 'ratchet', name: 'bytes added to a 100-byte message', value: added, unit: 'B', baseline: { name: ref, value: BASELINE.overheadBytes }, ratio: BASELINE.overheadBytes / added, target: '≤ libsignal', met: added <= BASELINE.overheadBytes },
    ...bounds,
    ...localKeys,
  ];
}
