/**
 * Outbox entries across versions. Since devices an entry holds one sealed copy per device
 * (`messages: [{to, device, envelope}]`, docs/design/devices-v2.md §7.2, §10); an entry written before
 * (`{to, envelope}`, e2ee-chat 0.1) is its one copy, for device 1 of `to` (§11.2 step 4): if `to` has more
 * devices by now, the server's devices_changed makes the client seal the missing copies (§21.5).
 */
import { PRIMARY_DEVICE } from './address.js';
import { envelopeBytes } from './session-manager.js';
import type { OutboxEntry, OutboxEntryV1 } from './stores.js';

/** A stored entry in today's shape, whichever version wrote it. */
export function outboxEntryFromStored(stored: OutboxEntry | OutboxEntryV1): OutboxEntry {
  if ('messages' in stored) return stored;
  const { envelope, ...entry } = stored;
  return { ...entry, messages: [{ to: entry.to, device: PRIMARY_DEVICE, envelope }] };
}

/** The size the server checks is each copy's own (§5.5): the largest decides whether the entry can go. */
export const largestCopyBytes = (entry: OutboxEntry): number => Math.max(0, ...entry.messages.map((m) => envelopeBytes(m.envelope)));
