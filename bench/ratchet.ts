/**
 * Benchmark of the pure protocol core: PQXDH session setup and the Double Ratchet.
 * Run: npx vite-node bench/ratchet.ts
 *
 * Each figure prints beside its baseline: libsignal-client 0.103 (native Rust) measured on this machine.
 */
import { utf8Encode } from '../src/crypto/bytes.js';
import { useX25519Backend, x25519Backend } from '../src/crypto/x25519.js';
import { buildPreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
import { LocalIdentity } from '../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey } from '../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../src/e2ee/pqxdh/stores.js';
import { decryptMessage, encryptMessage, initiateSession } from '../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../src/e2ee/ratchet/session-record.js';

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

const rows: [string, string, string][] = [];
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`X25519 backend: ${await x25519Backend()}; Node ${globalThis.navigator?.userAgent ?? ''}`);
rows.push(['session setup (PQXDH both sides + first message)', `${fmt(await setupMs(200), 2)} ms`, `${BASELINE.setupMs} ms`]);
const s = await stream(20_000);
rows.push(['stream, 100-byte messages: encrypt', `${fmt(s.enc)} /s`, `${fmt(BASELINE.encPerSec)} /s`]);
rows.push(['stream, 100-byte messages: decrypt', `${fmt(s.dec)} /s`, `${fmt(BASELINE.decPerSec)} /s`]);
rows.push(['ping-pong (DH ratchet step per message)', `${fmt(await pingPong(2_000))} msg/s`, `${fmt(BASELINE.pingPongPerSec)} msg/s`]);
rows.push(['1,000 messages decrypted in reverse order', `${fmt(await reverseMs(1_000), 1)} ms`, 'n/a']);
rows.push(['bytes added to a 100-byte message', `${await overhead()} B`, `${BASELINE.overheadBytes} B`]);
useX25519Backend('noble');
rows.push(['ping-pong with the pure-JS X25519 fallback (noble)', `${fmt(await pingPong(300))} msg/s`, `${fmt(BASELINE.pingPongPerSec)} msg/s`]);
useX25519Backend(undefined);

const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length), ['measure', 'e2ee-chat', 'libsignal 0.103'][c]!.length));
const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
console.log(line(['measure', 'e2ee-chat', 'libsignal 0.103']));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
