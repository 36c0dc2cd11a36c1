/**
 * A message recorded just before `chat` reads the unshown ones, and announced by the client just after,
 * reaches the screen by both paths: it must appear once (issue 11: shown exactly once).
 */
import { describe, expect, it } from 'vitest';
import { ChatSession } from '../../src/cli/chat-session.js';
import type { OpenedClient } from '../../src/cli/common.js';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import type { HistoryRecord } from '../../src/client/stores.js';

type Listener = (event: never) => void;

/** The parts of a client a ChatSession listens to, with a way to announce events as the client does. */
function fakeClient() {
  const listeners = new Map<string, Listener[]>();
  return {
    on(event: string, listener: Listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
    },
    markRead() {},
    announce(event: string, payload: unknown) {
      for (const l of listeners.get(event) ?? []) (l as (e: unknown) => void)(payload);
    },
  };
}

const incoming = (id: string, peer: string, body: string): HistoryRecord => ({
  id,
  direction: 'in',
  peer,
  body,
  sentAt: 1_800_000_000_000,
  serverId: `s-${id}`,
  serverTime: 1_800_000_000_001,
  status: 'received',
});

async function sessionWith(records: HistoryRecord[], peer: string | undefined) {
  const messages = new MemoryMessageStore();
  for (const r of records) await messages.recordIncoming(r);
  const client = fakeClient();
  const lines: string[] = [];
  const opened = { client, messages, identity: { username: 'alice' } } as unknown as OpenedClient;
  const session = new ChatSession(opened, { print: (t) => lines.push(t) }, () => 1_800_000_000_002, peer);
  return { session, client, lines, messages };
}

const announced = (r: HistoryRecord) => ({ id: r.id, from: r.peer, body: r.body, sentAt: r.sentAt, serverId: r.serverId, receivedAt: r.serverTime });

describe('chat shows each incoming message once', () => {
  it('a message both unshown at open and announced live is printed once, and marked shown', async () => {
    const hello = incoming('m1', 'bob', 'hello');
    const { session, client, lines, messages } = await sessionWith([hello], 'bob');
    // Recorded before open() reads the unshown ones, announced by the client while it reads: both paths see it.
    const opening = session.open();
    client.announce('message', announced(hello));
    await opening;
    await session.settled();
    expect(lines.filter((l) => l.endsWith('<bob> hello'))).toHaveLength(1);
    expect(await messages.undisplayed()).toEqual([]);
  });

  it('a message from another peer, met by both paths, counts once as unread', async () => {
    const hi = incoming('m2', 'carol', 'hi');
    const { session, client, lines } = await sessionWith([hi], 'bob');
    await session.open();
    client.announce('message', announced(hi));
    await session.settled();
    expect(lines.filter((l) => l.includes('unread from carol'))).toEqual(['(1 unread from carol; /to carol)']);
  });
});
