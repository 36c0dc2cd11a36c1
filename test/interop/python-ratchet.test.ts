/**
 * Interop, ratchet mode: a second, independent implementation of PQXDH + the Double Ratchet, written in
 * Python from docs/PROTOCOL.md alone (test/interop/python_ratchet_client.py), talks to a real server and
 * to real TypeScript ChatClients (ratchet mode) in both directions.
 *
 * The Python side needs `cryptography` >= 46 (ML-KEM-1024) and python-socketio + websocket-client. Here
 * that is pyenv's Python (cryptography 48) borrowing Debian's python3-socketio / python3-websocket from
 * /usr/lib/python3/dist-packages (appended to the end of sys.path by the script). The interpreter is
 * E2EE_CHAT_RATCHET_PYTHON, else the first of `python3` (PATH) and /root/.pyenv/shims/python3 that has
 * them. Without one the suite is skipped with a notice naming what to install, or fails when
 * E2EE_CHAT_REQUIRE_INTEROP=1 (as .ci/run sets it; see python-gate.ts).
 * Run alone: npx vitest run test/interop/python-ratchet.test.ts
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { safetyNumber } from '../../src/e2ee/safety-number.js';
import { connectTestClient, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { interopGate } from './python-gate.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'python_ratchet_client.py');
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';
const PROBE = [
  'import sys',
  `sys.path.append(${JSON.stringify(DIST_PACKAGES)})`,
  'from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM1024PrivateKey',
  'MLKEM1024PrivateKey.generate()',
  'import socketio, websocket',
].join('; ');

/** The interpreter to use, or why there is none. */
function findPython(): { python?: string; problem?: string } {
  const explicit = process.env.E2EE_CHAT_RATCHET_PYTHON;
  const candidates = explicit ? [explicit] : ['python3', '/root/.pyenv/shims/python3'];
  const problems: string[] = [];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 20_000 });
    if (probe.error) problems.push(`${python}: cannot be run (${probe.error.message})`);
    else if (probe.status !== 0) problems.push(`${python}: ${probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`}`);
    else return { python };
  }
  return {
    problem:
      `no Python with cryptography >= 46 (ML-KEM-1024) and python-socketio/websocket-client (with ${DIST_PACKAGES} ` +
      `appended to sys.path): ${problems.join('; ')}`,
  };
}

const { python: PYTHON, problem } = findPython();
const gate = interopGate(
  'Python interop, PQXDH + Double Ratchet (test/interop/python-ratchet.test.ts)',
  problem,
  'a Python 3 with cryptography >= 46 (ML-KEM-1024; Debian bookworm\'s python3-cryptography is 38, too old: ' +
    "on this kind of machine pyenv's Python 3.11 has 48), found as python3 on the PATH, " +
    '/root/.pyenv/shims/python3 or E2EE_CHAT_RATCHET_PYTHON; plus the Debian packages python3-socketio ' +
    `python3-websocket (read from ${DIST_PACKAGES}; apt-get install python3-socketio python3-websocket python3-requests)`,
);
const skip = gate.skip;

/** What the Python side reports about one message it opened (`recv`). */
interface PyOpened {
  index: number;
  ok: boolean;
  from: string;
  serverId: string;
  body?: string;
  payloadId?: string;
  kind?: 'prekey' | 'ratchet';
  repeat?: boolean;
  opkId?: number | null;
  kemId?: number;
  n?: number;
  pn?: number;
  error?: string;
  debug?: string;
}

/** What the Python side reports about one message it sealed and sent (`send`, `release`). */
interface PySent {
  serverId: string;
  status: 'delivered' | 'queued';
  payloadId: string;
  body: string;
  kind: 'prekey' | 'ratchet';
  n: number;
  pn: number;
  tag?: string;
  newSession: { opkId: number | null; kemId: number; spkId: number } | null;
}

interface PyReady {
  event: 'ready';
  user: string;
  registered: boolean;
  ids: string;
  ik: string;
  upload: { identityKey: string; signedPreKeyId: number; lastResortKemPreKeyId: number; oneTime: number; kemOneTime: number };
}

interface PyReply {
  re: number;
  ok: boolean;
  error?: string;
  message?: string;
  [member: string]: unknown;
}

/** A long-running `python_ratchet_client.py serve`: JSON commands on stdin, one JSON answer per line. */
class PyPeer {
  readonly ready: Promise<PyReady>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (r: PyReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<number | null>;

  constructor(serverUrl: string, user: string, extra: string[] = []) {
    this.child = spawn(PYTHON!, [SCRIPT, '--server', serverUrl, '--user', user, ...extra, 'serve'], { stdio: 'pipe' });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    let onReady!: (r: PyReady) => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise<PyReady>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Partial<PyReady> & Partial<PyReply>;
      if (msg.event === 'ready') return onReady(msg as PyReady);
      const reply = msg as PyReply;
      const waiter = this.pending.get(reply.re);
      this.pending.delete(reply.re);
      waiter?.resolve(reply);
    });
    this.exit = new Promise((resolve) => {
      this.child.on('close', (code) => {
        this.exited = true;
        const err = new Error(`python (${user}) exited with ${code}:\n${this.stderr}`);
        onFail(err);
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
        resolve(code);
      });
    });
  }

  /** Sends one command and resolves with its answer; a refused command (ok: false) rejects. */
  async request<T extends object = Record<string, never>>(cmd: Record<string, unknown>): Promise<T & PyReply> {
    const id = this.nextId++;
    const reply = new Promise<PyReply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.stdin.write(JSON.stringify({ id, ...cmd }) + '\n');
    const r = await reply;
    if (!r.ok) throw new Error(`python refused ${JSON.stringify(cmd)}: ${r.error}: ${r.message}\n${this.stderr}`);
    return r as T & PyReply;
  }

  send(to: string, text: string, extra: Record<string, unknown> = {}): Promise<PySent & PyReply> {
    return this.request<PySent>({ cmd: 'send', to, text, ...extra });
  }

  async recv(count: number, order?: number[]): Promise<PyOpened[]> {
    const r = await this.request<{ messages: PyOpened[] }>({ cmd: 'recv', count, timeout: 15, ...(order && { order }) });
    return r.messages;
  }

  async quit(): Promise<number | null> {
    if (!this.exited) {
      this.child.stdin.write(JSON.stringify({ id: this.nextId++, cmd: 'quit' }) + '\n');
      this.child.stdin.end();
    }
    const timer = setTimeout(() => this.kill(), 5000);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

const ok = (m: PyOpened): void => expect(m.ok, `python could not open a message: ${m.error} (${m.debug})`).toBe(true);

describe('Python PQXDH + Double Ratchet written from docs/PROTOCOL.md', () => {
  let server: TestServer;
  const peers: PyPeer[] = [];
  const clients: TestClient[] = [];

  const py = async (user: string, extra: string[] = []): Promise<[PyPeer, PyReady]> => {
    const p = new PyPeer(server.url, user, extra);
    peers.push(p);
    return [p, await p.ready];
  };
  const ts = async (user: string): Promise<TestClient> => {
    const c = await connectTestClient(server.url, user, { ratchet: new MemoryRatchetStore(), mode: 'ratchet' });
    clients.push(c);
    return c;
  };
  /** The ratchet bodies (decoded) of every `send` to `to` the server received, in order. */
  type Envelope = { type: string; body: string };
  type SendFrame = { to?: string; envelope?: Envelope; messages?: Array<{ to: string; envelope: Envelope }> };
  /** The copies for `to` in a `send` frame: protocol 2's `messages` (our client), or protocol 1's one envelope (the Python client). */
  const copiesFor = (frame: SendFrame, to: string): Envelope[] =>
    frame.messages ? frame.messages.filter((m) => m.to === to).map((m) => m.envelope) : frame.to === to && frame.envelope ? [frame.envelope] : [];
  const sentBodies = (to: string): Buffer[] =>
    server.frames
      .filter((f) => f.event === 'send')
      .flatMap((f) => copiesFor(f.args[0] as SendFrame, to))
      .map((env) => {
        expect(env.type).toBe('ratchet');
        return Buffer.from(env.body, 'base64url');
      });

  beforeAll(async () => {
    if (skip) return;
    gate.assertRunnable();
    server = await startTestServer();
  });

  afterAll(async () => {
    for (const p of peers) expect(await p.quit()).toBe(0);
    for (const c of clients) await c.client.close();
    if (server) {
      await server.stop();
      removeDir(server.dataDir);
    }
  });

  it.skipIf(skip)("(0) the document's known answers (16.6 info, 16.8 KDF/ENCRYPT, 16.12 safety number) reproduce in Python", () => {
    const r = spawnSync(PYTHON!, [SCRIPT, 'selftest'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; selftest: Record<string, boolean> };
    expect(out.selftest).toEqual({
      pqxdh_info_hex: true,
      kdf_rk_root: true,
      kdf_rk_chain: true,
      kdf_ck_mk: true,
      kdf_ck_next: true,
      encrypt: true,
      decrypt: true,
      safety_number: true,
    });
  });

  it.skipIf(skip)('(1) TS alice initiates to Python pat (one-time prekeys); alternating turns both ways', async () => {
    const [pat, ready] = await py('pat', ['--one-time', '8', '--kem-one-time', '4']);
    expect(ready).toMatchObject({ registered: true, upload: { signedPreKeyId: 1, lastResortKemPreKeyId: 1_000_000, oneTime: 8, kemOneTime: 4 } });
    const alice = await ts('alice');

    // Three messages before pat answers: each is a prekey message (16.7) with the same PQXDH part.
    const first = ['hello pat, from TypeScript ✓', 'second: "quotes" \\ and\nnewlines', 'third 🐍 ünïcödé'];
    const sent = [];
    for (const t of first) sent.push(await alice.client.send('pat', t));
    const opened = await pat.recv(3);
    opened.forEach(ok);
    expect(opened.map((m) => m.body)).toEqual(first);
    expect(opened.map((m) => m.payloadId)).toEqual(sent.map((s) => s.id));
    expect(opened.map((m) => [m.from, m.kind, m.repeat, m.n, m.pn])).toEqual([
      ['alice', 'prekey', false, 0, 0],
      ['alice', 'prekey', true, 1, 0],
      ['alice', 'prekey', true, 2, 0],
    ]);
    // The server hands out the lowest-id one-time keys (14.3); pat used them.
    expect(opened[0]).toMatchObject({ opkId: 100, kemId: 200 });
    expect(await pat.request({ cmd: 'count' })).toMatchObject({ oneTime: 7, kemOneTime: 3 });
    const prekeyBodies = sentBodies('pat');
    expect(prekeyBodies).toHaveLength(3);
    for (const b of prekeyBodies) {
      expect(b[0]).toBe(0x02);
      expect(b.subarray(0, 1746).equals(prekeyBodies[0]!.subarray(0, 1746))).toBe(true);
    }

    // Alternating turns: every turn is a DH ratchet step on both sides.
    for (let turn = 0; turn < 4; turn++) {
      const reply = await pat.send('alice', `pat, turn ${turn} ✓`);
      expect(reply).toMatchObject({ kind: 'ratchet', n: 0, pn: turn === 0 ? 0 : 1, status: 'delivered' });
      const got = await alice.waitFor(turn + 1);
      expect(got[turn]).toMatchObject({ from: 'pat', to: 'alice', body: `pat, turn ${turn} ✓`, id: reply.payloadId, serverId: reply.serverId });

      await alice.client.send('pat', `alice, turn ${turn}, a`);
      await alice.client.send('pat', `alice, turn ${turn}, b`);
      const back = await pat.recv(2);
      back.forEach(ok);
      expect(back.map((m) => [m.body, m.kind, m.n, m.pn])).toEqual([
        [`alice, turn ${turn}, a`, 'ratchet', 0, turn === 0 ? 3 : 2],
        [`alice, turn ${turn}, b`, 'ratchet', 1, turn === 0 ? 3 : 2],
      ]);
    }
    // Once alice had pat's answer she sent plain ratchet messages (16.7: prekey form only until then).
    const later = sentBodies('pat').slice(3);
    expect(later).toHaveLength(8);
    for (const b of later) expect(b[0]).toBe(0x01);

    // Out of order on the Python side: three TS messages of one chain (after 'turn 3, a/b': n = 2, 3, 4)
    // opened 3, 1, 2 (skipped message keys).
    for (const t of ['x1', 'x2', 'x3']) await alice.client.send('pat', t);
    const reordered = await pat.recv(3, [2, 0, 1]);
    reordered.forEach(ok);
    expect(reordered.map((m) => [m.body, m.n, m.pn])).toEqual([
      ['x3', 4, 2],
      ['x1', 2, 2],
      ['x2', 3, 2],
    ]);
    const last = await pat.send('alice', 'pat got x1..x3');
    expect((await alice.waitFor(5))[4]).toMatchObject({ body: 'pat got x1..x3', id: last.payloadId });
    expect(alice.rejected).toEqual([]);

    // Both sides compute the same safety number (16.12).
    const { safetyNumber: pySafety } = await pat.request<{ safetyNumber: string }>({ cmd: 'safety', peer: 'alice' });
    const tsSafety = safetyNumber(
      { identityKey: base64urlDecode(alice.identity.keys.signing.x), username: 'alice' },
      { identityKey: base64urlDecode(ready.ids), username: 'pat' },
    );
    expect(pySafety).toBe(tsSafety);
  });

  it.skipIf(skip)('(2) Python pat initiates to TS bea (fetching her bundle, with a one-time prekey); bea decrypts and answers', async () => {
    const [pat] = peers;
    const bea = await ts('bea');
    const s1 = await pat!.send('bea', 'hello bea, from Python 🐍');
    expect(s1).toMatchObject({ kind: 'prekey', n: 0, pn: 0 });
    expect(s1.newSession).not.toBeNull();
    expect(s1.newSession!.opkId).toEqual(expect.any(Number));
    const s2 = await pat!.send('bea', 'second, still a prekey message');
    expect(s2).toMatchObject({ kind: 'prekey', n: 1, newSession: null });
    const got = await bea.waitFor(2);
    expect(got.map((m) => [m.from, m.to, m.body, m.id, m.serverId])).toEqual([
      ['pat', 'bea', 'hello bea, from Python 🐍', s1.payloadId, s1.serverId],
      ['pat', 'bea', 'second, still a prekey message', s2.payloadId, s2.serverId],
    ]);

    await bea.client.send('pat', 'bea answers');
    const [answer] = await pat!.recv(1);
    ok(answer!);
    expect(answer).toMatchObject({ from: 'bea', body: 'bea answers', kind: 'ratchet', n: 0, pn: 0 });
    const s3 = await pat!.send('bea', 'now a plain ratchet message');
    expect(s3).toMatchObject({ kind: 'ratchet', n: 0, pn: 2 });
    expect((await bea.waitFor(3))[2]).toMatchObject({ body: 'now a plain ratchet message' });
    expect(bea.rejected).toEqual([]);
  });

  it.skipIf(skip)('(3) skipped message keys in TS: one chain delivered 3, 1, 2; and a late message of a previous chain (PN)', async () => {
    const pat = peers[0]!;
    const bea = clients.find((c) => c.identity.username === 'bea')!;
    let seen = bea.received.length;
    for (const tag of ['k1', 'k2', 'k3']) await pat.request({ cmd: 'seal', to: 'bea', text: `message ${tag}`, tag });
    await pat.request({ cmd: 'release', tags: ['k3', 'k1', 'k2'] });
    const got = await bea.waitFor(seen + 3);
    expect(got.slice(seen).map((m) => m.body)).toEqual(['message k3', 'message k1', 'message k2']);
    seen += 3;

    // p1, p2 sealed in one chain; only p1 goes out. After bea's answer pat's new chain starts (q1,
    // PN = the old chain's length); then the late p2 arrives and needs the key skipped by PN.
    const p1 = await pat.request<{ n: number }>({ cmd: 'seal', to: 'bea', text: 'p1', tag: 'p1' });
    await pat.request({ cmd: 'seal', to: 'bea', text: 'p2 (late)', tag: 'p2' });
    await pat.request({ cmd: 'release', tags: ['p1'] });
    expect((await bea.waitFor(seen + 1))[seen]!.body).toBe('p1');
    await bea.client.send('pat', 'bea again');
    const [again] = await pat.recv(1);
    ok(again!);
    const q1 = await pat.send('bea', 'q1');
    expect(q1).toMatchObject({ n: 0, pn: p1.n + 2 });
    await pat.request({ cmd: 'release', tags: ['p2'] });
    const all = await bea.waitFor(seen + 3);
    expect(all.slice(seen).map((m) => m.body)).toEqual(['p1', 'q1', 'p2 (late)']);
    expect(bea.rejected).toEqual([]);
  });

  it.skipIf(skip)('(4) a Python message with a flipped MAC bit is rejected by TS, and the session goes on', async () => {
    const pat = peers[0]!;
    const bea = clients.find((c) => c.identity.username === 'bea')!;
    const seen = bea.received.length;
    await pat.send('bea', 'tampered', { tamper: true });
    const [rejected] = (await bea.waitForRejected(1)).slice(-1);
    expect(rejected).toMatchObject({ from: 'pat', error: { code: 'decryption_failed' } });
    await pat.send('bea', 'after the tampered one');
    const got = await bea.waitFor(seen + 1);
    expect(got.slice(seen).map((m) => m.body)).toEqual(['after the tampered one']);
  });

  it.skipIf(skip)('(5) TS cody initiates to Python quinn, who has no one-time keys (no DH4, last-resort ML-KEM key)', async () => {
    const [quinn, ready] = await py('quinn', ['--one-time', '0', '--kem-one-time', '0']);
    expect(ready.upload).toMatchObject({ oneTime: 0, kemOneTime: 0, lastResortKemPreKeyId: 1_000_000 });
    const cody = await ts('cody');
    await cody.client.send('quinn', 'no one-time keys left?');
    await cody.client.send('quinn', 'fine');
    const opened = await quinn.recv(2);
    opened.forEach(ok);
    expect(opened.map((m) => [m.body, m.kind, m.repeat])).toEqual([
      ['no one-time keys left?', 'prekey', false],
      ['fine', 'prekey', true],
    ]);
    expect(opened[0]).toMatchObject({ opkId: null, kemId: 1_000_000 });
    const initial = sentBodies('quinn')[0]!;
    expect([...initial.subarray(168, 177)]).toEqual([0, 0, 0, 0, 0, 0x00, 0x0f, 0x42, 0x40]);
    await quinn.send('cody', 'hello cody');
    expect((await cody.waitFor(1))[0]).toMatchObject({ from: 'quinn', body: 'hello cody' });
    await cody.client.send('quinn', 'and back');
    const [back] = await quinn.recv(1);
    expect(back).toMatchObject({ ok: true, body: 'and back', kind: 'ratchet' });
    // The last-resort key is never deleted on use (16.6).
    expect(await quinn.request({ cmd: 'count' })).toMatchObject({ lastResortKemPreKeyId: 1_000_000 });
    expect(cody.rejected).toEqual([]);
  });
});
