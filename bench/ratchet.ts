/**
 * Benchmark of the pure protocol core: PQXDH session setup and the Double Ratchet.
 * Run as part of `npm run bench` (section "ratchet").
 *
 * Each figure prints beside its baseline: libsignal-client 0.103 (native Rust) measured on this machine,
 * a fixed reference. Because this machine's speed varies from run to run by up to 2×, setup and ping-pong
 * are also given against a baseline measured in the same run: the cost of the primitives they cannot
 * avoid (the X25519, Ed25519 and ML-KEM operations they make, counted, each timed alone).
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

async function setupMs(iterations: number): Promise<number> {
  const alice = await party(0);
  const bob = await party(iterations + 20);
  const run = async (i: number) => {
    const ra = new SessionRecord();
    await initiateSession(ra, bob.bundles[i]!, alice.identity);
    await decryptMessage(new SessionRecord(), encryptMessage(ra, PLAINTEXT), { identity: bob.identity, preKeys: bob.preKeys });
  };
  for (let i = 0; i < 20; i++) await run(iterations + i); // warm-up
  const t = performance.now();
  for (let i = 0; i < iterations; i++) await run(i);
  return (performance.now() - t) / iterations;
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

async function pingPong(count: number): Promise<number> {
  const { ra, rb, ctxA, ctxB } = await established();
  const step = async (i: number) => {
    if (i % 2 === 0) await decryptMessage(rb, encryptMessage(ra, PLAINTEXT), ctxB);
    else await decryptMessage(ra, encryptMessage(rb, PLAINTEXT), ctxA);
  };
  for (let i = 0; i < 100; i++) await step(i);
  const t = performance.now();
  for (let i = 0; i < count; i++) await step(i);
  return count / ((performance.now() - t) / 1000);
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

/** Microseconds per call of each primitive, timed alone in this run. */
async function primitiveCosts(iterations: number) {
  const time = async (f: () => unknown) => {
    for (let i = 0; i < Math.min(iterations, 50); i++) await f();
    const t = performance.now();
    for (let i = 0; i < iterations; i++) await f();
    return ((performance.now() - t) * 1000) / iterations;
  };
  const a = await X25519KeyPair.generate();
  const b = await X25519KeyPair.generate();
  const identity = await LocalIdentity.generate(crypto.getRandomValues(new Uint8Array(32)));
  const kem = mlkem1024GenerateKeyPair();
  const { ciphertext } = mlkem1024Encapsulate(kem.publicKey);
  const signed = await generateSignedPreKey(identity, 1);
  const message = signedPreKeyMessage(signed.keyPair.publicKey);
  return {
    x25519Generate: await time(() => X25519KeyPair.generate()),
    x25519Derive: await time(() => a.agree(b.publicKey)),
    ed25519Verify: await time(() => ed25519Verify(signed.signature, message, identity.signingPublicKey)),
    encapsulate: await time(() => mlkem1024Encapsulate(kem.publicKey)),
    decapsulate: await time(() => mlkem1024Decapsulate(ciphertext, kem.secretKey)),
  };
}

/** The primitives' share of setup and of one ping-pong message, from counted calls and timed primitives. */
async function floors(iterations: number): Promise<{ setupMs: number; pingPongUs: number; counts: { setup: Counts; step: Counts } }> {
  const cost = await primitiveCosts(iterations);
  const alice = await party(0);
  const bob = await party(1);
  const setup = await countNativeCalls(async () => {
    const ra = new SessionRecord();
    await initiateSession(ra, bob.bundles[0]!, alice.identity);
    await decryptMessage(new SessionRecord(), encryptMessage(ra, PLAINTEXT), { identity: bob.identity, preKeys: bob.preKeys });
  });
  const { ra, rb, ctxB } = await established();
  const step = await countNativeCalls(async () => void (await decryptMessage(rb, encryptMessage(ra, PLAINTEXT), ctxB)));
  const x = (c: Counts) => c.x25519Generate * cost.x25519Generate + c.x25519Derive * cost.x25519Derive + c.ed25519Verify * cost.ed25519Verify;
  // One ML-KEM encapsulation (initiator) and one decapsulation (responder) per setup (docs/PROTOCOL.md §16.6).
  return { setupMs: (x(setup) + cost.encapsulate + cost.decapsulate) / 1000, pingPongUs: x(step), counts: { setup, step } };
}

async function overhead(): Promise<number> {
  const { ra } = await established();
  return encryptMessage(ra, PLAINTEXT).length - PLAINTEXT.length;
}

/** The ratchet section: each figure beside libsignal-client 0.103 measured on this machine (fixed). */
export async function ratchetBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  if (!nativeCrypto()) installNodeCrypto(); // what the library's Node entry does
  const n = { full: { setup: 200, stream: 20_000, ping: 2_000 }, quick: { setup: 50, stream: 5_000, ping: 500 }, smoke: { setup: 2, stream: 50, ping: 20 } }[mode];
  const setup = await setupMs(n.setup);
  const s = await stream(n.stream);
  const ping = await pingPong(n.ping);
  const reverse = await reverseMs(mode === 'smoke' ? 50 : 1_000);
  const added = await overhead();
  const floor = await floors(mode === 'smoke' ? 5 : 300);
  const ref = 'libsignal 0.103, fixed reference';
  const c = floor.counts;
  const primitivesName = (k: Counts, kem: string) => `its primitives alone, same run: ${k.ed25519Verify} Ed25519 verify, ${k.x25519Generate} X25519 keygen, ${k.x25519Derive} X25519${kem}`;
  return [
    { section: 'ratchet', name: `session setup, PQXDH + first message (X25519 via ${await x25519Backend()})`, value: setup, unit: 'ms', baseline: { name: ref, value: BASELINE.setupMs }, ratio: BASELINE.setupMs / setup, target: '≤ libsignal', met: setup <= BASELINE.setupMs },
    { section: 'ratchet', name: 'session setup vs the primitives it must run', value: setup, unit: 'ms', baseline: { name: primitivesName(c.setup, ', ML-KEM-1024 encaps + decaps'), value: floor.setupMs }, ratio: floor.setupMs / setup },
    { section: 'ratchet', name: 'stream of 100-byte messages: encrypt', value: s.enc, unit: '/s', baseline: { name: ref, value: BASELINE.encPerSec }, ratio: s.enc / BASELINE.encPerSec, target: '≥ libsignal', met: s.enc >= BASELINE.encPerSec },
    { section: 'ratchet', name: 'stream of 100-byte messages: decrypt', value: s.dec, unit: '/s', baseline: { name: ref, value: BASELINE.decPerSec }, ratio: s.dec / BASELINE.decPerSec, target: '≥ libsignal', met: s.dec >= BASELINE.decPerSec },
    { section: 'ratchet', name: 'ping-pong (a DH ratchet step per message)', value: ping, unit: 'msg/s', baseline: { name: ref, value: BASELINE.pingPongPerSec }, ratio: ping / BASELINE.pingPongPerSec, target: '≥ libsignal', met: ping >= BASELINE.pingPongPerSec },
    { section: 'ratchet', name: 'ping-pong vs the primitives it must run', value: ping, unit: 'msg/s', baseline: { name: primitivesName(c.step, ''), value: 1e6 / floor.pingPongUs }, ratio: ping / (1e6 / floor.pingPongUs) },
    { section: 'ratchet', name: `${mode === 'smoke' ? 50 : 1000} messages decrypted in reverse order`, value: reverse, unit: 'ms' },
    { section: 'ratchet', name: 'bytes added to a 100-byte message', value: added, unit: 'B', baseline: { name: ref, value: BASELINE.overheadBytes }, ratio: BASELINE.overheadBytes / added, target: '≤ libsignal', met: added <= BASELINE.overheadBytes },
  ];
}
