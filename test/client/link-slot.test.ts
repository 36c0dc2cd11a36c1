/**
 * LinkSlot on its own (a transport the test drives): frames wait in order until asked for, only this
 * slot's count, a server that pushes more than a run can take ends the run, and the other device's
 * close is told apart from a dropped connection.
 */
import { describe, expect, it } from 'vitest';
import { LinkSlot, type LinkTransport } from '../../src/client/link-slot.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { LINK_MAX_FRAMES } from '../../src/protocol/limits.js';

/** A transport whose pushes the test makes, recording what the slot sends. */
function fakeTransport() {
  const handlers = new Map<string, Set<(payload: unknown) => void>>();
  const sent: Array<{ event: string; payload: unknown }> = [];
  const transport: LinkTransport = {
    call: (async (event: string, payload: unknown) => {
      sent.push({ event, payload });
      return { ok: true };
    }) as LinkTransport['call'],
    onEvent: ((event: string, handler: (payload: unknown) => void) => {
      const set = handlers.get(event) ?? new Set();
      set.add(handler);
      handlers.set(event, set);
      return () => void set.delete(handler);
    }) as LinkTransport['onEvent'],
  };
  const push = (event: string, payload: unknown) => {
    for (const h of handlers.get(event) ?? []) h(payload);
  };
  return { transport, sent, push, listeners: (event: string) => handlers.get(event)?.size ?? 0 };
}

const frame = (byte: number) => base64urlEncode(Uint8Array.of(byte));

describe('LinkSlot', () => {
  it("hands over this slot's frames in order, whether they came before or after the ask", async () => {
    const t = fakeTransport();
    const slot = new LinkSlot(t.transport, '417');
    t.push('link.data', { slot: '417', data: frame(1) });
    t.push('link.data', { slot: '999', data: frame(9) });
    expect(await slot.next(1000, 'a frame')).toEqual(Uint8Array.of(1));
    const later = slot.next(1000, 'a frame');
    t.push('link.data', { slot: '417', data: frame(2) });
    expect(await later).toEqual(Uint8Array.of(2));
    await slot.send([Uint8Array.of(3)]);
    expect(t.sent).toEqual([{ event: 'link.send', payload: { slot: '417', data: frame(3) } }]);
  });

  it('a server pushing more frames than a run can take ends the run instead of queueing them', async () => {
    const t = fakeTransport();
    const slot = new LinkSlot(t.transport, '417');
    for (let i = 0; i <= LINK_MAX_FRAMES; i++) t.push('link.data', { slot: '417', data: frame(i & 0xff) });
    await expect(slot.next(1000, 'a frame')).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining(`more than ${LINK_MAX_FRAMES}`) });
    expect(t.listeners('link.data')).toBe(0);
  });

  it("the other device's close is told apart from its connection dropping", async () => {
    const t = fakeTransport();
    const closed = new LinkSlot(t.transport, '1');
    const waiting = closed.closedByOther(1000);
    t.push('link.closed', { slot: '1', reason: 'closed' });
    expect(await waiting).toBe('closed');

    const dropped = new LinkSlot(t.transport, '2');
    const gone = dropped.closedByOther(1000);
    t.push('link.closed', { slot: '2', reason: 'disconnected' });
    expect(await gone).toBe('disconnected');
    await expect(dropped.next(1000, 'a frame')).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('went away') });
  });
});
