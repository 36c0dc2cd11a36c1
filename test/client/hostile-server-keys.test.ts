/**
 * Key substitution by a lying server: every `keys` and `prekeys.bundle` answer must be about the user
 * asked for, and a bundle must carry the identity pinned for that name. A violation is refused with
 * 'bad_response' and pins nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatError } from '../../src/protocol/errors.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

const named = (payload: unknown): string => (payload as { username: string }).username;

async function refusal(work: Promise<unknown>): Promise<ChatError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(ChatError);
  return err as ChatError;
}

describe('a server that substitutes keys', () => {
  const servers = useHostileServer();
  const { track } = servers;
  let bob: TestClient;
  let mallory: TestClient;
  const removers: Array<() => void> = [];

  beforeAll(async () => {
    // The honest parties talk to the real server; only the victim goes through the liar.
    bob = track(await connectTestClient(servers.srv.url, 'bob', { keys: await keysFor(true) }));
    mallory = track(await connectTestClient(servers.srv.url, 'mallory', { keys: await keysFor(true) }));
  });
  afterEach(() => {
    for (const remove of removers.splice(0)) remove();
  });

  /** Answers every question about bob with mallory's real answer (labelled mallory, as the server has it). */
  function substituteMalloryForBob(events: Array<'keys' | 'prekeys.bundle'>): void {
    for (const event of events) {
      removers.push(servers.hostile.onAnswer(event, async (answer, payload, conn) => (named(payload) === 'bob' ? conn.ask(event, { username: 'mallory' }) : answer)));
    }
  }

  function sendsBy(user: string): number {
    return servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === user).length;
  }

  for (const mode of ['ratchet', 'hybrid'] as const) {
    it(`refuses keys for "bob" answered with another user's keys under that user's name (${mode})`, async () => {
      const alice = track(await connectTestClient(servers.hostile.url, `alice-${mode}`, { mode }));
      substituteMalloryForBob(['keys', 'prekeys.bundle']);
      const err = await refusal(alice.client.send('bob', 'for bob only'));
      expect(err.code).toBe('bad_response');
      expect(err.message).toMatch(/keys of "bob" with the keys of "mallory"/);
      // Nothing pinned under either name, nothing sent, nothing for mallory to open.
      expect(await alice.peers.get('mallory')).toBeUndefined();
      expect(await alice.peers.get('bob')).toBeUndefined();
      expect(sendsBy(`alice-${mode}`)).toBe(0);
      expect(await alice.messages.outbox()).toEqual([]);
    });
  }

  it('refuses a bundle for "bob" that names another user, or carries an identity other than the one pinned for bob', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'alice-bundle'));
    const removeNamed = servers.hostile.onAnswer('prekeys.bundle', async (answer, payload, conn) => (named(payload) === 'bob' ? conn.ask('prekeys.bundle', { username: 'mallory', devices: [1] }) : answer));
    const named1 = await refusal(alice.client.send('bob', 'one'));
    expect(named1.code).toBe('bad_response');
    expect(named1.message).toMatch(/prekeys of bob\/1 with others/);
    removeNamed();

    // Mallory's bundle relabelled "bob": its signatures are valid, but it is not bob's pinned identity.
    removers.push(
      servers.hostile.onAnswer('prekeys.bundle', async (answer, payload, conn) => {
        if (named(payload) !== 'bob') return answer;
        const theirs = await conn.ask('prekeys.bundle', { username: 'mallory', devices: [1] });
        return { ...theirs, username: 'bob' };
      }),
    );
    const relabelled = await refusal(alice.client.send('bob', 'two'));
    expect(relabelled.code).toBe('bad_response');
    expect(relabelled.message).toMatch(/prekey bundle for bob\/1 is signed by another key than the one its list names/);
    expect((await alice.peers.get('bob'))?.signingKey).toEqual((await bob.client.fetchKeys('bob')).signingKey);
    expect(sendsBy('alice-bundle')).toBe(0);
  });

  it('refuses malformed key answers (wrong types, missing members, null) and pins nothing', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'alice-malformed'));
    const lies: unknown[] = [
      null,
      42,
      'x'.repeat(100_000),
      { ok: true },
      { ok: true, username: 'bob', signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'not-a-key' }, encryptionKey: null, registeredAt: 1 },
      { ok: false, error: { code: 'no_such_code', message: 'x' } },
    ];
    for (const lie of lies) {
      const remove = servers.hostile.onAnswer('keys', () => lie);
      const err = await refusal(alice.client.peerKeys('bob'));
      expect(err.code, JSON.stringify(lie)?.slice(0, 80)).toBe('bad_response');
      remove();
    }
    expect(await alice.peers.get('bob')).toBeUndefined();
    // Extra members are dropped, not refused: a newer server may add some.
    removers.push(servers.hostile.onAnswer('keys', (answer) => ({ ...answer, extra: 'member' })));
    expect((await alice.client.peerKeys('bob')).username).toBe('bob');
    expect(mallory.client.username).toBe('mallory');
  });

  it('refuses a login answer about another user', async () => {
    removers.push(servers.hostile.onAnswer('register', (answer) => ({ ...answer, username: 'someoneelse' })));
    const err = await refusal(connectTestClient(servers.hostile.url, 'alice-login'));
    expect(err.code).toBe('bad_response');
  });

  it('trustPeer pins the keys the caller was shown, never a later answer, and emits "trusted"', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'alice-trust'));
    const shown = await alice.client.fetchKeys('bob');
    const { signingKeyThumbprint, encryptionKeyThumbprint } = await alice.client.peerKeys('bob');
    const fingerprints = { signingKeyThumbprint, encryptionKeyThumbprint };
    removers.push(servers.hostile.onAnswer('keys', async (answer, payload, conn) => (named(payload) === 'bob' ? { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' } : answer)));
    const trusted: string[] = [];
    alice.client.on('trusted', (t) => trusted.push(`${t.username}:${t.current.signingKey.x}`));

    // Given only fingerprints, the current answer must have them: the lie is refused and nothing changes.
    const refused = await refusal(alice.client.trustPeer('bob', fingerprints));
    expect(refused.code).toBe('peer_key_changed');
    expect(trusted).toEqual([]);

    const { current } = await alice.client.trustPeer('bob', shown, { verified: true });
    expect(current.signingKey.x).toBe(shown.signingKey.x);
    expect(await alice.peers.get('bob')).toMatchObject({ verified: true, signingKey: { x: shown.signingKey.x } });
    expect(trusted).toEqual([`bob:${shown.signingKey.x}`]);
    // Keys shown for another name are not pinned under this one.
    const malloryKeys = await mallory.client.fetchKeys('mallory');
    expect((await refusal(alice.client.trustPeer('bob', malloryKeys))).code).toBe('bad_response');
  });
});
