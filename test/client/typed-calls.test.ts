/**
 * Client → server calls are typed per event by the shared map (src/protocol/client-event-schemas.ts):
 * what the compiler refuses is what the server's schema refuses, and everything the client really sends
 * passes that schema. The @ts-expect-error lines are checked by `tsc` (npm run typecheck): each must stay
 * a compile error, or the typecheck fails.
 */
import { describe, expect, it } from 'vitest';
import type { ServerConnection } from '../../src/client/server-connection.js';
import { clientEventSchemasV2, isClientEventNameOf } from '../../src/protocol/client-event-schemas.js';
import { connectTestClient } from '../helpers/test-clients.js';
import { useTestServer } from '../helpers/server-fixtures.js';

describe('typed client calls', () => {
  const server = useTestServer();

  it('every frame the client sends in a session (login, prekeys, keys, bundle, send, ack) passes its event schema in the shared map', async () => {
    const alice = server.track(await connectTestClient(server.srv.url, 'tca'));
    const bob = server.track(await connectTestClient(server.srv.url, 'tcb'));
    await alice.client.send('tcb', 'hello');
    await bob.waitFor(1);
    await bob.client.send('tca', 'hi back');
    await alice.waitFor(1);
    await alice.client.onlineUsers();
    await Promise.all([alice.client.close(), bob.client.close()]); // flushes the pending acks
    const events = new Set(server.srv.frames.map((f) => f.event));
    for (const e of ['challenge', 'register', 'devices.list', 'prekeys.count', 'prekeys.upload', 'keys', 'prekeys.bundle', 'send', 'ack', 'users']) expect(events).toContain(e);
    for (const frame of server.srv.frames) {
      expect(isClientEventNameOf(2, frame.event), frame.event).toBe(true);
      if (!isClientEventNameOf(2, frame.event)) continue;
      const parsed = clientEventSchemasV2[frame.event].safeParse(frame.args[0]);
      expect(parsed.success, `${frame.event}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
  });

  it('a payload the compiler refuses for its event is one the server refuses as bad_request', async () => {
    const carol = server.track(await connectTestClient(server.srv.url, 'tcc'));
    const connection = carol.client['connection'] as ServerConnection;
    const refusals = [
      // @ts-expect-error: `send` needs its copies
      connection.call('send', { id: 'A'.repeat(22) }),
      // @ts-expect-error: `keys` takes { username }
      connection.call('keys', { user: 'tcb' }),
      // @ts-expect-error: ack ids are server ids (strings)
      connection.call('ack', { ids: [1] }),
      // @ts-expect-error: a rejected ack names a reason from REJECT_REASONS
      connection.call('ack', { rejected: [{ id: 'A'.repeat(22), reason: 'bored' }] }),
      // @ts-expect-error: `prekeys.bundle` takes { username, devices }
      connection.call('prekeys.bundle', {}),
    ];
    for (const refusal of refusals) await expect(refusal).rejects.toMatchObject({ code: 'bad_request' });
    // @ts-expect-error: not a client event
    await expect(connection.call('delete-everything', {})).rejects.toMatchObject({ code: 'unknown_event' });
  });
});
