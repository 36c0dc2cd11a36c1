/**
 * The CLI in its default mode (ratchet sessions) as real processes: send/receive both ways, then again
 * after restarting the server and every client; `send --mode hybrid` still works; `verify` prints the
 * same safety number on both sides and records the peer as verified; the server's database holds no
 * plaintext.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** Sends and asserts the command succeeded. */
async function send(w: World, from: string, to: string, text: string, args: string[] = []): Promise<void> {
  const r = await w.send(from, to, text, { args });
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
    const w = await World.create(procs, 'ratchet');
    let server = await w.startServer();
    // No read receipts: the queue below must hold exactly the messages this test sends.
    const quiet = { args: ['--no-read-receipts'] };
    let bob = await w.startReceiver('bob', quiet);
    let alice = await w.startReceiver('alice', quiet);
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

    server = await w.startServer({ label: 'server (restarted)' });
    bob = await w.startReceiver('bob', quiet);
    await bob.waitFor('stdout', /^\[alice\] seed mode still works$/m);
    expect(bob.stdout).toBe('[alice] Quasar-Lemon-4417 queued\n[alice] seed mode still works\n');
    alice = await w.startReceiver('alice', quiet);
    await send(w, 'bob', 'alice', 'after the restart');
    await alice.waitFor('stdout', /^\[bob\] after the restart$/m);
    expect(bob.stderr + alice.stderr).not.toMatch(/rejected/);
  });

  it('verify prints the same safety number on both sides and records the peer as verified', async () => {
    const w = await World.create(procs, 'verify');
    await w.startServer();
    await w.startReceiver('bob');
    // Only receive creates and registers a user: alice's first run listens, then stops.
    await (await w.startReceiver('alice')).stop('SIGTERM');
    await send(w, 'alice', 'bob', 'hello');
    const run = (user: string, peer: string) => w.cli(['verify', peer, '--user', user, '--yes'], { label: `verify ${user}` });
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
