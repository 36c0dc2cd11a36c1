/**
 * Benchmark of the pure protocol core: PQXDH session setup and the Double Ratchet.
 * Run as part of `npm run bench` (section "ratchet").
 *
 * Each figure prints beside its baseline: libsignal-client 0.103 (native Rust) measured on this machine.
 */
import { utf8Encode } from '../src/crypto/bytes.js';
import { nativeCrypto } from '../src/crypto/native.js';
import { installNodeCrypto } from '../src/crypto/node/node-crypto.js';
import { x25519Backend } from '../src/crypto/x25519.js';
import { buildPreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
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
  const ref = 'libsignal 0.103, fixed reference';
  return [
    { section: 'ratchet', name: `session setup, PQXDH + first message (X25519 via ${await x25519Backend()})`, value: setup, unit: 'ms', baseline: { name: ref, value: BASELINE.setupMs }, ratio: BASELINE.setupMs / setup, target: '≤ libsignal', met: setup <= BASELINE.setupMs },
    { section: 'ratchet', name: 'stream of 100-byte messages: encrypt', value: s.enc, unit: '/s', baseline: { name: ref, value: BASELINE.encPerSec }, ratio: s.enc / BASELINE.encPerSec, target: '≥ libsignal', met: s.enc >= BASELINE.encPerSec },
    { section: 'ratchet', name: 'stream of 100-byte messages: decrypt', value: s.dec, unit: '/s', baseline: { name: ref, value: BASELINE.decPerSec }, ratio: s.dec / BASELINE.decPerSec, target: '≥ libsignal', met: s.dec >= BASELINE.decPerSec },
    { section: 'ratchet', name: 'ping-pong (a DH ratchet step per message)', value: ping, unit: 'msg/s', baseline: { name: ref, value: BASELINE.pingPongPerSec }, ratio: ping / BASELINE.pingPongPerSec, target: '≥ libsignal', met: ping >= BASELINE.pingPongPerSec },
    { section: 'ratchet', name: `${mode === 'smoke' ? 50 : 1000} messages decrypted in reverse order`, value: reverse, unit: 'ms' },
    { section: 'ratchet', name: 'bytes added to a 100-byte message', value: added, unit: 'B', baseline: { name: ref, value: BASELINE.overheadBytes }, ratio: BASELINE.overheadBytes / added, target: '≤ libsignal', met: added <= BASELINE.overheadBytes },
  ];
}
