/**
 * Outbox entries and history records per device (docs/design/devices-v2.md §7.2 step 4, §8.3, §10,
 * §11.2 step 4; src/client/outbox-entry.ts, delivery-copies.ts). An entry holds one sealed copy per
 * device; an entry of 0.1 (`{to, envelope}`, stored or handed in) is one copy for device 1 of its
 * recipient. An entry goes out as one protocol-2 `send` naming every copy, and the answer's deliveries
 * become the record's copy states; receipts then settle one copy each. History records without copy
 * states or a sending device read as device 1's.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copiesOf, fromDeviceOf } from '../../src/client/delivery-copies.js';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { RowSealer } from '../../src/client/node/sealed-rows.js';
import { SqliteMessageStore, STORAGE_KEY_INFO } from '../../src/client/node/sqlite-message-store.js';
import { OutboxSender, type SentMessage } from '../../src/client/outbox-sender.js';
import type { ServerConnection } from '../../src/client/server-connection.js';
import type { HistoryRecord, MessageStore, OutboxEntry } from '../../src/client/stores.js';
import type { Envelope } from '../../src/protocol/schemas.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
const opened: SqliteMessageStore[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

const SECRET = new Uint8Array(32).fill(3);
const envelope = (body: string): Envelope => ({ type: 'ratchet', v: 1, body });
const outgoing = (id: string, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({ id, direction: 'out', peer: 'bob', body: id, sentAt: 1, status: 'outbox', ...extra });

function statePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-outbox-copies-'));
  dirs.push(dir);
  return join(dir, 'state.sqlite');
}

async function sqlite(path = statePath()): Promise<SqliteMessageStore> {
  const store = await SqliteMessageStore.open(path, SECRET, 'alice');
  opened.push(store);
  return store;
}

/** A connection that is logged in and answers every send as stored (each copy queued), recording what was sent. */
function recordingConnection(sends: unknown[]): ServerConnection {
  return {
    authenticated: true,
    call: async (event: string, payload: { messages: Array<{ to: string; device: number }> }) => {
      sends.push({ event, payload });
      const n = sends.length;
      return { ok: true, deliveries: payload.messages.map((m, i) => ({ to: m.to, device: m.device, id: `srv-${n}-${i}`, sentAt: 1000 + n, status: 'queued' })) };
    },
  } as unknown as ServerConnection;
}

/** Drains the outbox once; resolves with what it reported. */
async function drain(store: MessageStore, sends: unknown[]): Promise<{ sent: SentMessage[]; failed: string[] }> {
  const sent: SentMessage[] = [];
  const failed: string[] = [];
  const sender = new OutboxSender(store, recordingConnection(sends), { sent: (m) => sent.push(m), failed: (f) => failed.push(`${f.id} ${f.error.code}`), debug: () => undefined }, () => 65_536, async () => {
    throw new Error('no device set changes in these tests');
  }, 1);
  const ids = (await store.outbox()).map((e) => e.id);
  const done = Promise.all(ids.map((id) => sender.waitFor(id).catch(() => undefined)));
  sender.flush();
  await done;
  return { sent, failed };
}

describe.each(['memory', 'sqlite', 'indexeddb'] as const)('%s store: outbox entries per device', (kind) => {
  const store = async (): Promise<MessageStore> => (kind === 'memory' ? new MemoryMessageStore() : kind === 'sqlite' ? sqlite() : (await newIdbAccount()).messages());

  it('keeps an entry handed in the 0.1 shape as one copy for device 1 of its recipient, and sends it as that copy', async () => {
    const messages = await store();
    await messages.addOutgoing({ id: 'a'.repeat(22), to: 'bob', envelope: envelope('AAAA'), createdAt: 1 }, outgoing('a'.repeat(22)));
    expect(await messages.outbox()).toEqual([{ id: 'a'.repeat(22), to: 'bob', messages: [{ to: 'bob', device: 1, envelope: envelope('AAAA') }], createdAt: 1 }]);
    const sends: unknown[] = [];
    const { sent } = await drain(messages, sends);
    expect(sends).toEqual([{ event: 'send', payload: { id: 'a'.repeat(22), messages: [{ to: 'bob', device: 1, envelope: envelope('AAAA') }] } }]);
    expect(sent).toEqual([{ id: 'a'.repeat(22), to: 'bob', status: 'queued', serverId: 'srv-1-0', serverTime: 1001, devices: 1 }]);
    expect(await messages.get('a'.repeat(22), 'out')).toMatchObject({ status: 'queued', serverId: 'srv-1-0', copies: [{ to: 'bob', device: 1, status: 'queued', serverId: 'srv-1-0' }] });
  });

  it('sends every copy of an entry in one send, in order, and records each copy with its own server id', async () => {
    const messages = await store();
    const two: OutboxEntry = {
      id: 'c'.repeat(22),
      to: 'bob',
      messages: [
        { to: 'bob', device: 1, envelope: envelope('CCCC') },
        { to: 'bob', device: 2, envelope: envelope('DDDD') },
        { to: 'alice', device: 2, envelope: envelope('EEEE') },
      ],
      createdAt: 2,
    };
    await messages.addOutgoing(two, outgoing(two.id));
    const sends: unknown[] = [];
    const { sent, failed } = await drain(messages, sends);
    expect(failed).toEqual([]);
    expect(sends).toEqual([{ event: 'send', payload: { id: two.id, messages: two.messages } }]);
    // The user is told about bob's copies: two devices; the copy for alice's own other device is synced, not counted.
    expect(sent).toEqual([{ id: two.id, to: 'bob', status: 'queued', serverId: 'srv-1-0', serverTime: 1001, devices: 2 }]);
    expect(copiesOf((await messages.get(two.id, 'out'))!).map((c) => [c.to, c.device, c.status, c.serverId])).toEqual([
      ['bob', 1, 'queued', 'srv-1-0'],
      ['bob', 2, 'queued', 'srv-1-1'],
      ['alice', 2, 'queued', 'srv-1-2'],
    ]);
    expect(await messages.outboxEntries()).toEqual([]);
  });

  it('keeps per-device copy states of outgoing records and the sending device of incoming ones; older records read as device 1', async () => {
    const messages = await store();
    const copies = [
      { to: 'bob', device: 1, status: 'delivered' as const, serverId: 'srv-1' },
      { to: 'bob', device: 2, status: 'unreadable' as const, serverId: 'srv-2', reason: 'decryption_failed' as const },
    ];
    await messages.addOutgoing({ id: 'd'.repeat(22), to: 'bob', messages: [{ to: 'bob', device: 1, envelope: envelope('EEEE') }], createdAt: 1 }, outgoing('d'.repeat(22), { copies }));
    await messages.recordIncoming({ id: 'e'.repeat(22), direction: 'in', peer: 'bob', body: 'from the laptop', sentAt: 2, status: 'received', fromDevice: 2 });
    await messages.recordIncoming({ id: 'f'.repeat(22), direction: 'in', peer: 'bob', body: 'as before', sentAt: 3, status: 'received' });
    const sent = (await messages.get('d'.repeat(22), 'out'))!;
    expect(copiesOf(sent)).toEqual(copies);
    // A receipt settles its own copy; a repeat of it changes nothing.
    const now = await messages.markCopy('d'.repeat(22), { to: 'bob', device: 2 }, { status: 'delivered' });
    expect(now?.copies).toEqual([copies[0], { to: 'bob', device: 2, status: 'delivered', serverId: 'srv-2' }]);
    expect(now?.status).toBe('delivered');
    expect(await messages.markCopy('d'.repeat(22), { to: 'bob', device: 2 }, { status: 'delivered' })).toBeUndefined();
    expect((await messages.get('d'.repeat(22), 'out'))?.copies).toEqual(now?.copies);
    expect(fromDeviceOf((await messages.get('e'.repeat(22), 'in'))!)).toBe(2);
    expect(fromDeviceOf((await messages.get('f'.repeat(22), 'in'))!)).toBe(1);
  });
});

describe('records without device facts', () => {
  it('have one copy, to device 1 of their peer, in the state of their status', () => {
    expect(copiesOf(outgoing('g'.repeat(22)))).toEqual([{ to: 'bob', device: 1, status: 'outbox' }]);
    expect(copiesOf(outgoing('g'.repeat(22), { status: 'queued', serverId: 'srv-9' }))).toEqual([{ to: 'bob', device: 1, status: 'queued', serverId: 'srv-9' }]);
    expect(copiesOf(outgoing('g'.repeat(22), { status: 'unreadable', serverId: 'srv-9', reason: 'unsupported' }))).toEqual([
      { to: 'bob', device: 1, status: 'unreadable', serverId: 'srv-9', reason: 'unsupported' },
    ]);
    expect(copiesOf(outgoing('g'.repeat(22), { status: 'failed' }))).toEqual([{ to: 'bob', device: 1, status: 'outbox' }]);
  });
});

describe('sqlite store: an outbox row written by 0.1', () => {
  it('is read as one copy for device 1, and rewritten in the devices shape at its next update', async () => {
    const path = statePath();
    (await sqlite(path)).close();
    // The row as 0.1 seals it: {id, to, envelope, createdAt} under the HMAC of "outbox:<id>".
    const rows = new RowSealer(SECRET, 'alice', STORAGE_KEY_INFO);
    const id = 'h'.repeat(22);
    const key = rows.keyOf(`outbox:${id}`);
    const db = new Database(path);
    db.prepare('INSERT INTO outbox (key, data) VALUES (?, ?)').run(key, rows.seal(key, { id, to: 'bob', envelope: envelope('HHHH'), createdAt: 5 }));
    db.close();

    const messages = await sqlite(path);
    const copy = [{ to: 'bob', device: 1, envelope: envelope('HHHH') }];
    expect(await messages.outbox()).toEqual([{ id, to: 'bob', messages: copy, createdAt: 5 }]);
    expect(await messages.countSendAttempt(id)).toBe(1);
    const raw = new Database(path, { readonly: true });
    const row = raw.prepare('SELECT data FROM outbox WHERE key = ?').get(key) as { data: Buffer };
    raw.close();
    expect(rows.open(key, row.data)).toEqual({ id, to: 'bob', messages: copy, createdAt: 5, attempts: 1 });
  });
});
