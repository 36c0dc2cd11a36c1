/** Starts our real server as its own process (the built CLI), on 127.0.0.1, for a benchmark. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const BASELINES = resolve(import.meta.dirname, '..', 'baselines');

/** Which server a benchmark process runs: ours (the built CLI) or one of the bare baselines. */
export type ServerKind = 'e2ee-chat' | 'socket.io' | 'ws';

function commandFor(kind: ServerKind): string[] {
  if (kind === 'socket.io') return [join(BASELINES, 'socketio-relay.mjs')];
  if (kind === 'ws') return [join(BASELINES, 'ws-relay.mjs')];
  // E2EE_CHAT_BENCH_CLI=<path of a built cli/main.js> runs another build (e.g. main's) under the same load generator.
  return [process.env.E2EE_CHAT_BENCH_CLI || CLI, 'server'];
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `env` adds to a clean environment; the rate limit is lifted so the load generator is the only limit. */
export async function startServerProcess(env: Record<string, string> = {}, kind: ServerKind = 'e2ee-chat'): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-bench-'));
  // E2EE_CHAT_BENCH_PROFILE=<dir> writes a V8 CPU profile of each server process there (node --cpu-prof).
  const profile = process.env.E2EE_CHAT_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.E2EE_CHAT_BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, ...commandFor(kind)], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      E2EE_CHAT_DATA: dataDir,
      E2EE_CHAT_RATE_LIMIT: '1000000',
      E2EE_CHAT_RATE_BURST: '1000000',
      LOG_LEVEL: 'warn',
      E2EE_CHAT_AUTH_TIMEOUT_MS: '120000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Read what the server logs (it would block on a full pipe otherwise), and keep any error lines.
  const errors: string[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (/"level":(50|60)/.test(line) && errors.length < 20) errors.push(line);
  });
  await new Promise<void>((res, rej) => {
    const deadline = setTimeout(() => rej(new Error('server did not become healthy')), 15_000);
    const poll = async () => {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) {
          clearTimeout(deadline);
          return res();
        }
      } catch {
        // not up yet
      }
      if (child.exitCode !== null) return rej(new Error(`server exited with ${child.exitCode}`));
      setTimeout(poll, 50);
    };
    void poll();
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
      if (errors.length > 0) process.stderr.write(`server (${kind}) logged errors:\n${errors.join('\n')}\n`);
    },
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from after the command name, in clock ticks.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Nanoseconds a process has spent on a CPU so far, summed over its threads (the first field of each
 * /proc/<pid>/task/<tid>/schedstat). cpuSeconds counts in 10 ms clock ticks, too coarse for an interval
 * of a few tens of ms; this is exact. A thread that exits takes its time with it: Node's threads (the
 * main one, libuv's pool, V8's platform workers) live as long as the process.
 */
export function cpuNanos(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return total;
}

/** Resident memory of a process, in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) * 1024;
}
