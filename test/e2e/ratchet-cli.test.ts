/**
 * The CLI in its default mode (ratchet sessions) as real processes: send/receive both ways, then again
 * after restarting the server and every client; `send --mode hybrid` still works; `verify` prints the
 * same safety number on both sides and records the peer as verified; the server's database holds no
 * plaintext.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Processes, assertBuilt, freePort, type Proc } from './processes.js';

const procs = new Processes();
beforeAll(() => assertBuilt());
afterEach(() => procs.cleanup());
afterAll(() => procs.removeDirs());

interface World { home: string; data: string; cwd: string; port: number; url: string }

async function newWorld(name: string): Promise<World> {
  const dir = procs.tempDir(name);
  const port = await freePort();
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  return { home: join(dir, 'home'), data: join(dir, 'data'), cwd, port, url: `http://127.0.0.1:${port}` };
}

const env = (w: World) => ({ E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url });

async function startServer(w: World, label = 'server'): Promise<Proc> {
  const server = procs.spawn(label, ['server'], { cwd: w.cwd, env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data } });
  await server.waitFor('stdout', /e2ee-chat server listening on port/);
  return server;
}

async function receiver(w: World, user: string): Promise<Proc> {
  const p = procs.spawn(`receive ${user}`, ['receive', '--user', user], { cwd: w.cwd, env: env(w) });
  await p.waitFor('stderr', /^Listening as /m);
  return p;
}

async function send(w: World, from: string, to: string, text: string, extra: string[] = []): Promise<void> {
  const r = await procs.run(`send ${from}->${to}`, ['send', '--user', from, '--to', to, text, ...extra], { cwd: w.cwd, env: env(w) });
  expect(r.code, r.proc.describe()).toBe(0);
}

function queuedEnvelopeTypes(w: World): string[] {
  const db = new Database(join(w.data, 'e2ee-chat.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT envelope FROM queue ORDER BY seq').all() as Array<{ envelope: string }>).map((r) => (JSON.parse(r.envelope) as { type: string }).type);
  } finally {
    db.close();
  }
}

describe('CLI in the default (ratchet) mode', () => {
  it('send/receive both ways, then again after restarting everything; hybrid on request; no plaintext on the server', async () => {
    const w = await newWorld('ratchet');
    let server = await startServer(w);
    let bob = await receiver(w, 'bob');
    let alice = await receiver(w, 'alice');
    await send(w, 'alice', 'bob', 'Quasar-Lemon-4417 first');
    await bob.waitFor('stdout', /^\[alice\] Quasar-Lemon-4417 first$/m);
    await send(w, 'bob', 'alice', 'Quasar-Lemon-4417 reply');
    await alice.waitFor('stdout', /^\[bob\] Quasar-Lemon-4417 reply$/m);

    // Everything stops; bob's next messages wait in the queue, as ratchet envelopes.
    await Promise.all([bob.stop('SIGTERM'), alice.stop('SIGTERM')]);
    await send(w, 'alice', 'bob', 'Quasar-Lemon-4417 queued');
    expect(queuedEnvelopeTypes(w)).toEqual(['ratchet']);
    await send(w, 'alice', 'bob', 'seed mode still works', ['--mode', 'hybrid']);
    expect(queuedEnvelopeTypes(w)).toEqual(['ratchet', 'hybrid']);
    const raw = readFileSync(join(w.data, 'e2ee-chat.sqlite')).toString('latin1') + readFileSync(join(w.data, 'e2ee-chat.sqlite-wal')).toString('latin1');
    expect(raw.includes('Quasar-Lemon-4417')).toBe(false);
    expect((await server.stop('SIGTERM')).code).toBe(0);

    server = await startServer(w, 'server (restarted)');
    bob = await receiver(w, 'bob');
    await bob.waitFor('stdout', /^\[alice\] seed mode still works$/m);
    expect(bob.stdout).toBe('[alice] Quasar-Lemon-4417 queued\n[alice] seed mode still works\n');
    alice = await receiver(w, 'alice');
    await send(w, 'bob', 'alice', 'after the restart');
    await alice.waitFor('stdout', /^\[bob\] after the restart$/m);
    expect(bob.stderr + alice.stderr).not.toMatch(/rejected/);
  });

  it('verify prints the same safety number on both sides and records the peer as verified', async () => {
    const w = await newWorld('verify');
    await startServer(w);
    await receiver(w, 'bob');
    // Only receive creates and registers a user: alice's first run listens, then stops.
    await (await receiver(w, 'alice')).stop('SIGTERM');
    await send(w, 'alice', 'bob', 'hello');
    const run = (user: string, peer: string) => procs.run(`verify ${user}`, ['verify', peer, '--user', user, '--yes'], { cwd: w.cwd, env: env(w) });
    const [a, b] = [await run('alice', 'bob'), await run('bob', 'alice')];
    expect(a.code, a.proc.describe()).toBe(0);
    expect(b.code, b.proc.describe()).toBe(0);
    const number = /^(\d{5}(?: \d{5}){11})$/m;
    const fromAlice = a.stdout.match(number)?.[1];
    expect(fromAlice).toBeDefined();
    expect(b.stdout.match(number)?.[1]).toBe(fromAlice);
    expect(a.stdout).toMatch(/bob is now verified/);
    const peers = JSON.parse(readFileSync(join(w.home, 'alice', 'peers.json'), 'utf8')) as { peers: Record<string, { verified: boolean }> };
    expect(peers.peers.bob!.verified).toBe(true);
  });
});
