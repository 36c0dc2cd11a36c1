/**
 * Interop: a Python client written from docs/PROTOCOL.md alone (test/interop/python_client.py) talks to
 * a real server and to the TypeScript ChatClient, in both directions.
 *
 * Needs the Debian system Python with python3-jwcrypto, python3-socketio, python3-websocket and
 * python3-cryptography. Without them the suite is skipped with a notice naming them, or fails when
 * E2EE_CHAT_REQUIRE_INTEROP=1 (as .ci/run sets it; see python-gate.ts).
 * Run alone: npx vitest run test/interop
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { interopGate } from './python-gate.js';

/** The Debian system Python (its dist-packages hold the modules); E2EE_CHAT_PYTHON overrides it. */
const PYTHON = process.env.E2EE_CHAT_PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'python_client.py');

/** Why the Python side cannot run here, or undefined when it can. */
function pythonProblem(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import jwcrypto, socketio, websocket, cryptography'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (probe.error) return `${PYTHON} cannot be run (${probe.error.message})`;
  if (probe.status !== 0) return `${PYTHON} lacks a module: ${probe.stderr.trim().split('\n').pop() ?? ''}`;
  return undefined;
}

const gate = interopGate(
  'Python interop, hybrid envelope (test/interop/python-client.test.ts)',
  pythonProblem(),
  `${PYTHON} (Debian's python3, or E2EE_CHAT_PYTHON) with the Debian packages python3-jwcrypto ` +
    'python3-socketio python3-websocket python3-cryptography (apt-get install python3-jwcrypto ' +
    'python3-socketio python3-websocket python3-requests)',
);
const skip = gate.skip;

interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface PyProcess {
  /** Resolves when the process exits. */
  done: Promise<PyResult>;
  /** Resolves once `pattern` appears on stderr (rejects if the process exits first or on timeout). */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(): void;
}

function startPython(args: string[], timeoutMs = 60_000): PyProcess {
  const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<PyResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      exited = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return {
    done,
    waitForStderr: (pattern, ms = 20_000) =>
      waitUntil(
        () => {
          if (pattern.test(stderr)) return true;
          if (exited) throw new Error(`python exited before ${pattern}: ${stderr}`);
          return undefined;
        },
        ms,
        `${pattern} on python's stderr (so far: ${stderr})`,
      ).then(() => undefined),
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

function runPython(args: string[], timeoutMs?: number): Promise<PyResult> {
  return startPython(args, timeoutMs).done;
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function expectOk(r: PyResult): void {
  expect(r.code, `python failed:\n${r.stderr}`).toBe(0);
}

describe('python client written from docs/PROTOCOL.md', () => {
  let server: TestServer;
  let keyDir: string;
  let bob: TestClient;
  const clients: TestClient[] = [];
  const running: PyProcess[] = [];

  const py = (user: string, keyFile: string, ...rest: string[]): string[] => [
    '--server',
    server.url,
    '--user',
    user,
    '--keys',
    join(keyDir, keyFile),
    ...rest,
  ];

  beforeAll(async () => {
    if (skip) return;
    gate.assertRunnable();
    server = await startTestServer();
    keyDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-py-'));
    bob = await connectTestClient(server.url, 'bob');
    clients.push(bob);
  });

  afterAll(async () => {
    for (const p of running) p.kill();
    for (const c of clients) await c.client.close();
    if (server) {
      await server.stop();
      removeDir(server.dataDir);
    }
    if (keyDir) removeDir(keyDir);
  });

  it.skipIf(skip)('(a) Python carol → TS bob: bob receives the exact text from carol', async () => {
    const text = 'hello bob, from Python 🐍 — "quoted" \\ back\nslash and a second line';
    const r = await runPython(py('carol', 'carol.json', 'send', '--to', 'bob', text));
    expectOk(r);
    const [ack] = jsonLines(r.stdout);
    expect(ack).toMatchObject({ status: 'delivered' });
    const [m] = await bob.waitFor(1);
    expect(m).toMatchObject({ from: 'carol', to: 'bob', body: text, serverId: ack!.id, id: ack!.payloadId });
    expect(bob.rejected).toEqual([]);
  });

  it.skipIf(skip)('(a′) the same with the envelope sealed by jwcrypto (section 12 style)', async () => {
    const before = bob.received.length;
    const r = await runPython(py('carol', 'carol.json', '--impl', 'jwcrypto', 'send', '--to', 'bob', 'sealed by jwcrypto'));
    expectOk(r);
    const got = await bob.waitFor(before + 1);
    expect(got[before]).toMatchObject({ from: 'carol', body: 'sealed by jwcrypto' });
    expect(bob.rejected).toEqual([]);
  });

  it.skipIf(skip)('(b) TS alice → Python carol: the python receiver prints the verified message', async () => {
    const receiver = startPython(py('carol', 'carol.json', 'receive', '--count', '2', '--timeout', '20'));
    running.push(receiver);
    await receiver.waitForStderr(/^ready$/m);
    // This Python client speaks the hybrid envelope only (test/interop/python-ratchet.test.ts covers ratchet).
    const alice = await connectTestClient(server.url, 'alice', { mode: 'hybrid' });
    clients.push(alice);
    const first = await alice.client.send('carol', 'hi carol, from TypeScript ✓');
    const second = await alice.client.send('carol', 'second line\nwith a newline');
    const r = await receiver.done;
    expectOk(r);
    const lines = jsonLines(r.stdout);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ from: 'alice', body: 'hi carol, from TypeScript ✓', id: first.serverId, payloadId: first.id });
    expect(lines[1]).toMatchObject({ from: 'alice', body: 'second line\nwith a newline', id: second.serverId });
    expect(r.stderr).not.toMatch(/rejected/);
  });

  it.skipIf(skip)('(c) a second run with the same key file logs in (no username_taken); other keys are refused', async () => {
    const first = await runPython(py('erin', 'erin.json', 'login'));
    expectOk(first);
    expect(jsonLines(first.stdout)[0]).toEqual({ username: 'erin', registered: true });

    const again = await runPython(py('erin', 'erin.json', 'login'));
    expectOk(again);
    expect(jsonLines(again.stdout)[0]).toEqual({ username: 'erin', registered: false });
    expect(again.stderr).not.toMatch(/username_taken/);

    // carol, registered by (a), sends again from the same key file
    const carol = await runPython(py('carol', 'carol.json', 'send', '--to', 'bob', 'carol again'));
    expectOk(carol);
    expect(jsonLines(carol.stdout)[0]).toMatchObject({ registered: false, status: 'delivered' });

    // a different key file for the same name: login answers bad_signature (the client must not then register)
    const impostor = await runPython(py('erin', 'erin-impostor.json', 'login'));
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toMatch(/error: bad_signature/);
  });

  it.skipIf(skip)('(d) an envelope with one flipped ciphertext bit is rejected by bob as decryption_failed', async () => {
    const received = bob.received.length;
    const rejected = bob.rejected.length;
    const r = await runPython(py('carol', 'carol.json', 'tamper-test', '--to', 'bob'));
    expectOk(r);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ status: 'delivered', tampered: true });
    const list = await bob.waitForRejected(rejected + 1);
    expect(list[rejected]).toMatchObject({ from: 'carol', error: { code: 'decryption_failed' } });
    await new Promise((res) => setTimeout(res, 200));
    expect(bob.received).toHaveLength(received);
  });

  it.skipIf(skip)('(e) the same envelope sent twice: bob accepts the first and rejects the replay', async () => {
    const received = bob.received.length;
    const rejected = bob.rejected.length;
    const r = await runPython(py('carol', 'carol.json', 'replay-test', '--to', 'bob', 'only once'));
    expectOk(r);
    expect(jsonLines(r.stdout)).toHaveLength(2);
    const got = await bob.waitFor(received + 1);
    expect(got[received]).toMatchObject({ from: 'carol', body: 'only once' });
    const list = await bob.waitForRejected(rejected + 1);
    expect(list[rejected]).toMatchObject({ from: 'carol', error: { code: 'decryption_failed' } });
    expect(bob.received).toHaveLength(received + 1);
  });

  it.skipIf(skip)('(f) Python → Python through the same server, and errors surface as non-zero exits', async () => {
    const receiver = startPython(py('frank', 'frank.json', 'receive', '--count', '1', '--timeout', '20'));
    running.push(receiver);
    await receiver.waitForStderr(/^ready$/m);
    expectOk(await runPython(py('carol', 'carol.json', 'send', '--to', 'frank', 'python to python')));
    const r = await receiver.done;
    expectOk(r);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ from: 'carol', body: 'python to python' });

    // frank is gone: the server queues, and frank gets it on his next run (then acknowledges it).
    const offline = await runPython(py('carol', 'carol.json', 'send', '--to', 'frank', 'nobody home'));
    expectOk(offline);
    expect(jsonLines(offline.stdout)[0]).toMatchObject({ status: 'queued' });
    const later = await runPython(py('frank', 'frank.json', 'receive', '--count', '1', '--timeout', '20'));
    expectOk(later);
    expect(jsonLines(later.stdout)[0]).toMatchObject({ from: 'carol', body: 'nobody home' });
    expect((await server.store.queueUsage('frank')).count).toBe(0);
    const unknown = await runPython(py('carol', 'carol.json', 'send', '--to', 'nobody', 'x'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/error: unknown_user/);
  });
});
