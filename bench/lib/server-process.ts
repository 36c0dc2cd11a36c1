/** Starts our real server as its own process (the built CLI), on 127.0.0.1, for a benchmark. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

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
export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-bench-'));
  const child = spawn(process.execPath, [CLI, 'server'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      E2EE_CHAT_DATA: dataDir,
      E2EE_CHAT_RATE_LIMIT: '1000000',
      E2EE_CHAT_RATE_BURST: '1000000',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
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
    },
  };
}
