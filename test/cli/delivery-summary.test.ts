/**
 * What the CLI says about an outgoing message's delivery once it goes to several devices of its recipient
 * (docs/design/devices-v2.md §8.3): each row of the design's table, the number rule, the sender's own
 * devices left out, and names and reasons from the network made safe to print.
 */
import { describe, expect, it } from 'vitest';
import { storedState } from '../../src/cli/chat-lines.js';
import { deliveredJson, deliveredSummary, deliveredText, deliveryCounts, deliverySummary, recordDeliverySummary } from '../../src/cli/delivery-summary.js';
import { unreadableBySender } from '../../src/cli/reasons.js';
import type { CopyState, HistoryRecord } from '../../src/client/stores.js';

const copy = (device: number, status: CopyState['status'], extra: Partial<CopyState> = {}): CopyState => ({ to: 'bob', device, status, ...extra });

/** Every terminal control printable() escapes: none may reach the screen raw. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const outgoing = (status: HistoryRecord['status'], copies?: CopyState[]): HistoryRecord => ({
  id: 'm1',
  direction: 'out',
  peer: 'bob',
  body: 'hello',
  sentAt: 0,
  status,
  ...(copies && { copies }),
});

describe('deliverySummary: the rows of design §8.3', () => {
  it('all delivered: delivered to bob (2 of 2 devices)', () => {
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'delivered')], 'alice')).toBe('delivered to bob (2 of 2 devices)');
  });

  it('some delivered, the rest still on their way: delivered to bob (1 of 2 devices)', () => {
    for (const other of ['sent', 'queued', 'outbox'] as const) {
      expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, other)], 'alice')).toBe('delivered to bob (1 of 2 devices)');
    }
  });

  it('one unreadable: the count, then which device could not read it and why, in the words send already uses', () => {
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'unreadable', { reason: 'decryption_failed' })], 'alice')).toBe(
      "delivered to bob (1 of 2 devices); bob's device 2 could not read it (decryption failed)",
    );
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'unreadable', { reason: 'peer_key_changed' })], 'alice')).toBe(
      `delivered to bob (1 of 2 devices); bob's device 2 could not read it (${unreadableBySender('peer_key_changed', 'bob', 'alice')})`,
    );
    // An unreadable receipt without a reason is a decryption failure, as for one device.
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'unreadable')], 'alice')).toBe(
      "delivered to bob (1 of 2 devices); bob's device 2 could not read it (decryption failed)",
    );
  });

  it('one removed: the removed copy leaves the count: delivered to bob (1 of 1 device)', () => {
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'removed')], 'alice')).toBe('delivered to bob (1 of 1 device)');
    expect(deliveryCounts('bob', [copy(1, 'delivered'), copy(2, 'removed')])).toEqual({ delivered: 1, of: 1 });
  });

  it('several unreadable devices are each named, in device order', () => {
    const copies = [copy(3, 'unreadable', { reason: 'unsupported' }), copy(1, 'delivered'), copy(2, 'unreadable', { reason: 'decryption_failed' })];
    expect(deliverySummary('bob', copies, 'alice')).toBe(
      "delivered to bob (1 of 3 devices); bob's device 2 could not read it (decryption failed); bob's device 3 could not read it (their client does not support this message format)",
    );
  });
});

describe('deliverySummary: counting', () => {
  it('says "device" for a total of one and "devices" otherwise', () => {
    expect(deliverySummary('bob', [copy(1, 'delivered')], 'alice')).toBe('delivered to bob (1 of 1 device)');
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'queued')], 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(deliverySummary('bob', [copy(1, 'delivered'), copy(2, 'delivered'), copy(3, 'delivered')], 'alice')).toBe('delivered to bob (3 of 3 devices)');
  });

  it('says nothing while no device of the peer has it: the caller keeps its sent, queued or unreadable words', () => {
    expect(deliverySummary('bob', [], 'alice')).toBeUndefined();
    expect(deliverySummary('bob', [copy(1, 'sent'), copy(2, 'queued')], 'alice')).toBeUndefined();
    expect(deliverySummary('bob', [copy(1, 'unreadable'), copy(2, 'removed')], 'alice')).toBeUndefined();
    expect(deliverySummary('bob', [copy(1, 'removed'), copy(2, 'removed')], 'alice')).toBeUndefined();
  });

  it('leaves out copies to the sender\'s own other devices, delivered or not', () => {
    const copies: CopyState[] = [
      copy(1, 'delivered'),
      copy(2, 'queued'),
      { to: 'alice', device: 2, status: 'delivered' },
      { to: 'alice', device: 3, status: 'unreadable', reason: 'decryption_failed' },
    ];
    expect(deliverySummary('bob', copies, 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(deliveryCounts('bob', copies)).toEqual({ delivered: 1, of: 2 });
    // Only alice's own devices have it: nothing is delivered to bob yet.
    expect(deliverySummary('bob', [copy(1, 'sent'), { to: 'alice', device: 2, status: 'delivered' }], 'alice')).toBeUndefined();
  });
});

describe('deliverySummary: text from the network made safe', () => {
  it('escapes terminal controls in the peer\'s name and in the sender\'s name quoted by a reason', () => {
    const hostile = 'bob\u001b[2J\n[carol] hi\u202e';
    const copies: CopyState[] = [
      { to: hostile, device: 1, status: 'delivered' },
      { to: hostile, device: 2, status: 'unreadable', reason: 'peer_key_changed' },
    ];
    const text = deliverySummary(hostile, copies, 'alice\u0007')!;
    expect(text).not.toMatch(CONTROL);
    expect(text).toContain('delivered to bob\\u{1b}[2J\\n[carol] hi\\u{202e} (1 of 2 devices)');
    expect(text).toContain('"e2ee-chat trust alice\\u{7}"');
  });

  it('words a reason it does not know, however it reads, as a decryption failure', () => {
    const copies = [copy(1, 'delivered'), copy(2, 'unreadable', { reason: '\u001b]0;owned\u0007' as CopyState['reason'] })];
    expect(deliverySummary('bob', copies, 'alice')).toBe("delivered to bob (1 of 2 devices); bob's device 2 could not read it (decryption failed)");
  });
});

describe('recordDeliverySummary: history and the chat screen', () => {
  it('summarises a record whose message went to several of the peer\'s devices', () => {
    expect(recordDeliverySummary(outgoing('delivered', [copy(1, 'delivered'), copy(2, 'queued')]), 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(recordDeliverySummary(outgoing('delivered', [copy(1, 'delivered'), copy(2, 'removed')]), 'alice')).toBe('delivered to bob (1 of 1 device)');
  });

  it('leaves a record with one copy, a record from before devices, an incoming one and a read one to their own words', () => {
    expect(recordDeliverySummary(outgoing('delivered'), 'alice')).toBeUndefined();
    expect(recordDeliverySummary(outgoing('delivered', [copy(1, 'delivered')]), 'alice')).toBeUndefined();
    expect(recordDeliverySummary(outgoing('delivered', [copy(1, 'delivered'), { to: 'alice', device: 2, status: 'delivered' }]), 'alice')).toBeUndefined();
    expect(recordDeliverySummary({ ...outgoing('received'), direction: 'in' }, 'alice')).toBeUndefined();
    expect(recordDeliverySummary(outgoing('read', [copy(1, 'delivered'), copy(2, 'delivered')]), 'alice')).toBeUndefined();
  });
});

describe('storedState: the chat screen\'s line under one of the user\'s own stored messages', () => {
  it('stays quiet for sent and for delivered to every device, as before devices', () => {
    expect(storedState(outgoing('sent'), 'alice')).toBeUndefined();
    expect(storedState(outgoing('delivered'), 'alice')).toBeUndefined();
    expect(storedState(outgoing('delivered', [copy(1, 'delivered'), copy(2, 'delivered')]), 'alice')).toBeUndefined();
    expect(storedState(outgoing('sent', [copy(1, 'sent'), copy(2, 'queued')]), 'alice')).toBeUndefined();
  });

  it('says how many devices have it when some do not, or could not read it', () => {
    expect(storedState(outgoing('delivered', [copy(1, 'delivered'), copy(2, 'queued')]), 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(storedState(outgoing('unreadable', [copy(1, 'delivered'), copy(2, 'unreadable')]), 'alice')).toBe(
      "delivered to bob (1 of 2 devices); bob's device 2 could not read it (decryption failed)",
    );
  });

  it('keeps the words of before for the other states', () => {
    expect(storedState(outgoing('queued'), 'alice')).toBe('queued');
    expect(storedState(outgoing('read', [copy(1, 'delivered'), copy(2, 'delivered')]), 'alice')).toBe('read');
    expect(storedState({ ...outgoing('unreadable'), reason: 'decryption_failed' }, 'alice')).toBe('could not be read by bob: decryption failed');
    expect(storedState(outgoing('failed'), 'alice')).toBe('failed (see "e2ee-chat outbox")');
  });
});

describe('the delivered event: send, receive and chat', () => {
  const before = { id: 'm1', to: 'bob', deliveredAt: 1795776499000 };

  it('without copies (a receipt naming no device): the same line and the same JSON as before devices', () => {
    expect(deliveredText(before, 'alice')).toBe("delivered to bob's device");
    expect(deliveredSummary(before, 'alice')).toBeUndefined();
    expect(deliveredJson(before)).toEqual({ type: 'delivered', id: 'm1', to: 'bob', deliveredAt: 1795776499000 });
  });

  it('with copies to several devices: the summary, and the device and counts in the JSON', () => {
    const d = { ...before, device: 2, copies: [copy(1, 'queued'), copy(2, 'delivered')] };
    expect(deliveredText(d, 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(deliveredSummary(d, 'alice')).toBe('delivered to bob (1 of 2 devices)');
    expect(deliveredJson(d)).toEqual({ type: 'delivered', id: 'm1', to: 'bob', deliveredAt: 1795776499000, device: 2, delivered: 1, of: 2 });
  });

  it('with one copy: the words of before, and the device and counts in the JSON', () => {
    const d = { ...before, device: 1, copies: [copy(1, 'delivered'), { to: 'alice', device: 2, status: 'delivered' as const }] };
    expect(deliveredText(d, 'alice')).toBe("delivered to bob's device");
    expect(deliveredSummary(d, 'alice')).toBeUndefined();
    expect(deliveredJson(d)).toEqual({ type: 'delivered', id: 'm1', to: 'bob', deliveredAt: 1795776499000, device: 1, delivered: 1, of: 1 });
  });

  it('a receipt with copies but no device says device null in the JSON', () => {
    expect(deliveredJson({ ...before, copies: [copy(1, 'delivered')] })).toMatchObject({ device: null, delivered: 1, of: 1 });
  });

  it('escapes a hostile recipient name in the line, with or without copies', () => {
    const to = 'bob\u001b[31m';
    expect(deliveredText({ ...before, to }, 'alice')).not.toMatch(CONTROL);
    const copies: CopyState[] = [
      { to, device: 1, status: 'delivered' },
      { to, device: 2, status: 'queued' },
    ];
    expect(deliveredText({ ...before, to, device: 1, copies }, 'alice')).toBe('delivered to bob\\u{1b}[31m (1 of 2 devices)');
  });
});
