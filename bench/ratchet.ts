/**
 * Benchmark of the pure protocol core: PQXDH session setup and the Double Ratchet.
 * Run as part of `npm run bench` (section "ratchet").
 *
 * Each figure prints beside its baseline: libsignal-client 0.103 (native Rust) measured on this machine,
 * a fixed reference. Because this machine's speed varies from run to run by up to 2×, setup and ping-pong
 * are also given against a baseline measured in the same run: the cost of the primitives they cannot
 * avoid (the X25519, Ed25519 and ML-KEM operations they make, counted, each timed alone).
 * Setup is measured once per ML-KEM-1024 implementation (liboqs in WebAssembly, which the Node entry
 * points install, and @noble's pure JS, the runtime-neutral default), all four series interleaved in the
 * same rounds, and the ML-KEM operations themselves per implementation, interleaved too.
 * The hostile-peer figures (a session record under attack) come from ratchet-bounds.ts; a receiving
 * client through SessionManager and the SQLite store, with its store work per message, from local-keys.ts.
 */
import { ed25519SigningKeyFromSeed } from '../src/crypto/signing-key.js';
import { utf8Encode } from '../src/crypto/bytes.js';
import { ed25519Verify } from '../src/crypto/ed25519.js';
import { installMlKem1024, mlkem1024Decapsulate, mlkem1024Encapsulate, mlkem1024GenerateKeyPair, nobleMlKem1024, type MlKem1024Implementation } from '../src/crypto/mlkem.js';
import { loadLibOqsMlKem1024 } from '../src/crypto/mlkem-liboqs.js';
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
import { compare, roundsOf } from './lib/rounds.js';
import { localKeysBench } from './local-keys.js';
import { ratchetBoundsBench } from './ratchet-bounds.js';

/** The target for session setup (issue 10, Benchmark): at most 1.5× libsignal's. */
const SETUP_TARGET_FACTOR = 1.5;
const BASELINE = { setupMs: 1.08, encPerSec: 12_400, decPerSec: 11_200, pingPongPerSec: 3_660, overheadBytes: 101 };
const PLAINTEXT = new Uint8Array(100).fill(0x61);

async function party(oneTimeCount: number) {
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
  const preKeys = new InMemoryPreKeyStore();
  const signed = await generateSignedPreKey(identity, 1);
  await preKeys.saveSignedPreKey(signed);
  const kems = await Promise.all(Array.from({ length: oneTimeCount }, (_, i) => generateKemPreKey(identity, 10_000 + i, 'one-time')));
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

/** `subject` and `baseline` alternately, `per` calls each per round: medians and the per-round ratio. */
async function interleaved(rounds: number, per: number, subject: () => Promise<void>, baseline: () => Promise<void>) {
  return compare(await roundsOf(rounds, per, [subject, baseline]), 0, 1);
}

/** `work` with `kem` installed as the ML-KEM-1024 implementation (a variable assignment: no cost). */
function using(kem: MlKem1024Implementation, work: () => Promise<void>): () => Promise<void> {
  return () => {
    installMlKem1024(kem);
    return work();
  };
}

/** The X25519, Ed25519 and ML-KEM work of `counts`, for real, on fixed inputs. */
async function primitivesOf(counts: Counts, withKem: boolean): Promise<() => Promise<void>> {
  const a = await X25519KeyPair.generate();
  const b = await X25519KeyPair.generate();
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32))));
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

/**
 * Session setup (PQXDH both sides + the first message) and the primitives it runs, once per ML-KEM-1024
 * implementation: four series interleaved in the same rounds.
 */
async function setup(rounds: number, per: number, liboqs: MlKem1024Implementation) {
  const alice = await party(0);
  const bob = await party(2 * rounds * per + 42);
  let next = 0;
  const one = async () => {
    const ra = new SessionRecord();
    await initiateSession(ra, bob.bundles[next++]!, alice.identity);
    await decryptMessage(new SessionRecord(), encryptMessage(ra, PLAINTEXT), { identity: bob.identity, preKeys: bob.preKeys });
  };
  const counts = await countNativeCalls(one);
  const primitives = await primitivesOf(counts, true); // one encapsulation and one decapsulation (PROTOCOL.md §16.6)
  for (let i = 0; i < 10; i++) await using(liboqs, one)(); // warm-up
  for (let i = 0; i < 10; i++) await using(nobleMlKem1024, one)();
  const rows = await roundsOf(rounds, per, [using(liboqs, one), using(liboqs, primitives), using(nobleMlKem1024, one), using(nobleMlKem1024, primitives)]);
  installMlKem1024(liboqs);
  return { counts, liboqs: compare(rows, 0, 1), noble: compare(rows, 2, 3), liboqsVsNoble: compare(rows, 0, 2) };
}

/** ML-KEM-1024 key generation, encapsulation and decapsulation, liboqs and @noble interleaved. */
async function mlkemOperations(rounds: number, per: number, liboqs: MlKem1024Implementation) {
  const pair = nobleMlKem1024.keyPairFromSeed(crypto.getRandomValues(new Uint8Array(64)));
  const { ciphertext } = nobleMlKem1024.encapsulate(pair.publicKey, crypto.getRandomValues(new Uint8Array(32)));
  const ops = (kem: MlKem1024Implementation) => [
    async () => void kem.keyPairFromSeed(crypto.getRandomValues(new Uint8Array(64))),
    async () => void kem.encapsulate(pair.publicKey, crypto.getRandomValues(new Uint8Array(32))),
    async () => void kem.decapsulate(ciphertext, pair.secretKey),
  ];
  const rows = await roundsOf(rounds, per, [...ops(liboqs), ...ops(nobleMlKem1024)]);
  return { keygen: compare(rows, 0, 3), encaps: compare(rows, 1, 4), decaps: compare(rows, 2, 5) };
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

type SetupResult = Awaited<ReturnType<typeof setup>>;

/** Setup per ML-KEM implementation: against libsignal (fixed), against its own primitives, and each other. */
function setupFigures(su: SetupResult, x25519: string, primitives: string): Figure[] {
  const ref = `libsignal 0.103, fixed reference; target ≤ ${SETUP_TARGET_FACTOR}× its time`;
  const target = `≤ ${SETUP_TARGET_FACTOR}× libsignal (${(SETUP_TARGET_FACTOR * BASELINE.setupMs).toFixed(2)} ms)`;
  const per = (label: string, r: SetupResult['liboqs'], withTarget: boolean): Figure[] => [
    {
      section: 'ratchet',
      name: `session setup, PQXDH + first message (X25519 via ${x25519}, ML-KEM via ${label}; median of rounds)`,
      value: r.subjectMs,
      unit: 'ms',
      baseline: { name: ref, value: BASELINE.setupMs },
      ratio: BASELINE.setupMs / r.subjectMs,
      ...(withTarget ? { target, met: r.subjectMs <= SETUP_TARGET_FACTOR * BASELINE.setupMs } : {}),
    },
    { section: 'ratchet', name: `session setup (ML-KEM via ${label}) vs the primitives it must run`, value: r.subjectMs, unit: 'ms', baseline: { name: primitives, value: r.baselineMs }, ratio: r.ratio },
  ];
  return [
    ...per('liboqs, as the Node entry points install', su.liboqs, true),
    ...per('@noble, the runtime-neutral default', su.noble, false),
    { section: 'ratchet', name: 'session setup: ML-KEM via liboqs vs via @noble', value: su.liboqsVsNoble.subjectMs, unit: 'ms', baseline: { name: 'the same setup with @noble ML-KEM, interleaved in the same run', value: su.liboqsVsNoble.baselineMs }, ratio: su.liboqsVsNoble.ratio },
  ];
}

/** The ratchet section: each figure beside libsignal-client 0.103 measured on this machine (fixed). */
export async function ratchetBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  // What the Node entry points do; the rejection of a liboqs that cannot load is wanted here (a figure
  // labelled liboqs must be liboqs's), where installNodeCrypto would quietly keep @noble.
  await installNodeCrypto();
  const liboqs = await loadLibOqsMlKem1024();
  installMlKem1024(liboqs);
  const n = { full: { rounds: 15, setup: 15, stream: 20_000, ping: 200, kem: 100 }, quick: { rounds: 7, setup: 8, stream: 5_000, ping: 100, kem: 50 }, smoke: { rounds: 1, setup: 2, stream: 50, ping: 20, kem: 2 } }[mode];
  const su = await setup(n.rounds, n.setup, liboqs);
  const kem = await mlkemOperations(n.rounds, n.kem, liboqs);
  const s = await stream(n.stream);
  const pp = await pingPong(n.rounds, n.ping);
  const reverse = await reverseMs(mode === 'smoke' ? 50 : 1_000);
  const added = await overhead();
  const bounds = await ratchetBoundsBench(mode);
  const localKeys = await localKeysBench(mode);
  const ref = 'libsignal 0.103, fixed reference';
  const ping = 1000 / pp.subjectMs;
  const primitivesName = (k: Counts, kem: string) =>
    `its primitives alone, interleaved in the same run: ${k.ed25519Verify} Ed25519 verify, ${k.x25519Generate} X25519 keygen, ${k.x25519Derive} X25519${kem}`;
  return [
    ...setupFigures(su, await x25519Backend(), primitivesName(su.counts, ', ML-KEM-1024 encaps + decaps')),
    ...(['keygen', 'encaps', 'decaps'] as const).map(
      (op): Figure => ({ section: 'ratchet', name: `ML-KEM-1024 ${op} via ${liboqs.name} (median of rounds)`, value: kem[op].subjectMs, unit: 'ms', baseline: { name: `${nobleMlKem1024.name}, interleaved in the same run`, value: kem[op].baselineMs }, ratio: kem[op].ratio }),
    ),
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
