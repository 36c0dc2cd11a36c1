/**
 * A Redis of a test's own: `redis-server` spawned on a free loopback port, with nothing saved to disk, so
 * a test may stop it, restart it empty on the same port (a Redis restart as a cluster sees it) and kill it
 * without disturbing the shared Redis on 6379 or another test file.
 *
 * Without the binary the Redis cases skip with a loud notice; under E2EE_CHAT_REQUIRE_SERVICES=1 (set by
 * .ci/run) they fail instead, as the PostgreSQL ones do (postgres.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { REQUIRE_SERVICES_VAR } from './postgres.js';

export interface RedisGate {
  readonly skip: boolean;
  readonly unavailable?: string;
}

/** Whether redis-server can be started here; prints the notice when it cannot. */
export function redisGate(): RedisGate {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const unavailable = probe.status === 0 ? undefined : `redis-server not found on PATH (${probe.error?.message ?? probe.stderr}): install Redis (Debian: apt-get install redis-server)`;
  const skip = unavailable !== undefined && process.env[REQUIRE_SERVICES_VAR] !== '1';
  if (skip) {
    const rule = '!'.repeat(100);
    console.warn(`\n${rule}\n!! SKIPPED the Redis cluster cases: ${unavailable}.\n!! .ci/run has Redis and sets ${REQUIRE_SERVICES_VAR}=1, under which this skip is a failure.\n${rule}\n`);
  }
  return { skip, ...(unavailable !== undefined && { unavailable }) };
}

/** Resolves when a PING on the port is answered with PONG, or rejects after `timeoutMs`. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      let answer = '';
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        answer += d.toString();
        if (answer.includes('\r\n')) {
          socket.destroy();
          resolve(answer.startsWith('+PONG'));
        }
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class TestRedis {
  private child: ChildProcess | undefined;
  private log = '';

  constructor(readonly port: number) {}

  /** The running server's process id (for its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or starts again) an empty Redis on the port and waits until it answers. */
  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    try {
      await waitForPong(this.port, 10_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.log}`);
    }
  }

  /** Kills it at once (SIGKILL: no goodbye to its clients) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
}
