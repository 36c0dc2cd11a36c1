/**
 * A durable server must not be crashable by a client: a `send` refused while an earlier `send` of the
 * same connection is still being made durable must be answered with its error code, and the server
 * process must keep running (and keep what it stored). Runs the real CLI server, whose Node runtime
 * treats an unhandled promise rejection as fatal.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Processes, assertBuilt, freePort, type Proc } from '../e2e/processes.js';
import { rawSocket, registerRaw } from '../helpers/test-clients.js';
import { call, fakeEnvelope, keysFor, queueRows } from './harness.js';

const procs = new Processes();
const sockets: Socket[] = [];

beforeAll(() => assertBuilt());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await procs.cleanup();
});
afterAll(() => procs.removeDirs());

async function startServer(name: string, env: Record<string, string> = {}): Promise<{ server: Proc; url: string; data: string }> {
  const dir = procs.tempDir(name);
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  const data = join(dir, 'data');
  const port = await freePort();
  const server = procs.spawn('server', ['server'], { cwd, env: { PORT: String(port), HOST: '127.0.0.1', E2EE_CHAT_DATA: data, ...env } });
  await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
  return { server, url: `http://127.0.0.1:${port}`, data };
}

async function user(url: string, name: string): Promise<Socket> {
  const s = await rawSocket(url);
  sockets.push(s);
  expect(await registerRaw(s, name, await keysFor())).toMatchObject({ ok: true });
  return s;
}

describe('refusals of pipelined sends', () => {
  it('answers a send to an unknown user that follows a send still being stored, and keeps running', async () => {
    const { server, url, data } = await startServer('pipelined-unknown');
    const alice = await user(url, 'alice');
    await user(url, 'bob');
    const [stored, refused] = await Promise.all([
      call(alice, 'send', { to: 'bob', envelope: fakeEnvelope('kept') }),
      call(alice, 'send', { to: 'nobody', envelope: fakeEnvelope('lost') }),
    ]).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${server.describe()}`);
    });
    expect(stored).toMatchObject({ ok: true });
    expect(refused).toMatchObject({ ok: false, error: { code: 'unknown_user' } });
    // A later request on the same connection is answered: the server got past both without crashing.
    expect(await call(alice, 'users', {}), server.describe()).toMatchObject({ ok: true });
    expect(server.running, server.describe()).toBe(true);
    expect(queueRows(data, 'bob')).toHaveLength(1);
  });

  it('answers sends beyond the rate limit with rate_limited, and keeps running', async () => {
    const { server, url } = await startServer('pipelined-rate', { E2EE_CHAT_RATE_LIMIT: '1', E2EE_CHAT_RATE_BURST: '8' });
    const alice = await user(url, 'alice');
    await user(url, 'bob');
    const acks = await Promise.all(Array.from({ length: 12 }, (_, i) => call(alice, 'send', { to: 'bob', envelope: fakeEnvelope(`r${i}`) }))).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${server.describe()}`);
      },
    );
    expect(acks.filter((a) => a.ok).length).toBeGreaterThan(0);
    expect(acks.filter((a) => !a.ok).every((a) => a.error?.code === 'rate_limited')).toBe(true);
    expect(acks.some((a) => !a.ok)).toBe(true);
    // Answered on a second connection (alice's bucket is empty): the server is still serving.
    expect(await call(await user(url, 'carol'), 'users', {}), server.describe()).toMatchObject({ ok: true });
    expect(server.running, server.describe()).toBe(true);
  });
});
