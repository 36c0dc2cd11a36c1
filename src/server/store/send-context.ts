/**
 * A send's context (server-store.ts SendContext) from the store's own reads, for the stores where a read
 * costs no round trip (memory, SQLite); the PostgreSQL store answers it in one query instead
 * (postgres-devices.ts).
 */
import type { SendContext, ServerStore } from './server-store.js';

export async function readSendContext(store: Pick<ServerStore, 'getUser' | 'getDeviceList'>, sender: string, recipient: string): Promise<SendContext> {
  const [user, recipientList, senderList] = await Promise.all([store.getUser(recipient), store.getDeviceList(recipient), store.getDeviceList(sender)]);
  return { recipientExists: user !== undefined, recipientList, senderList };
}
