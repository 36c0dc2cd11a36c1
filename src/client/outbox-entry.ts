/**
 * Outbox entries across versions. Since devices an entry holds one sealed copy per device
 * (`messages: [{to, device, envelope}]`, docs/design/devices-v2.md §7.2, §10); an entry written before
 * (`{to, envelope}`, e2ee-chat 0.1) is its one copy, for device 1 of `to` (§11.2 step 4). Until the
 * client speaks protocol 2 an entry goes out as protocol 1's one envelope, which is exactly that copy.
 */
import type { Envelope } from '../protocol/schemas.js';
import { PRIMARY_DEVICE } from './address.js';
import { envelopeBytes } from './session-manager.js';
import type { OutboxEntry, OutboxEntryV1 } from './stores.js';

/** A stored entry in today's shape, whichever version wrote it. */
export function outboxEntryFromStored(stored: OutboxEntry | OutboxEntryV1): OutboxEntry {
  if ('messages' in stored) return stored;
  const { envelope, ...entry } = stored;
  return { ...entry, messages: [{ to: entry.to, device: PRIMARY_DEVICE, envelope }] };
}

/** The envelope protocol 1 sends for this entry: its only copy, if that is for device 1 of `to`; else undefined. */
export function protocol1Envelope(entry: OutboxEntry): Envelope | undefined {
  const [copy, ...more] = entry.messages;
  return copy && more.length === 0 && copy.to === entry.to && copy.device === PRIMARY_DEVICE ? copy.envelope : undefined;
}

/** The size the server checks is each copy's own (§5.5): the largest decides whether the entry can go. */
export const largestCopyBytes = (entry: OutboxEntry): number => Math.max(0, ...entry.messages.map((m) => envelopeBytes(m.envelope)));
