/**
 * Several sends written in one PostgreSQL transaction (group commit, issue 13), each with its own
 * outcome: what one send decides never refuses or undoes another. Every decision is taken before the
 * first row is written, in the order the sends arrived, against usage read under the rows' locks plus
 * what the sends admitted before it add (quota.ts AdmittedUsage): the batch stores exactly what those
 * sends, run one after another in that order, would have stored. Then a single statement writes all
 * that was admitted: a batch is 7 round trips (8 with device lists to compare), whatever its size.
 */
import type pg from 'pg';
import { sharedVersions } from './postgres-devices.js';
import { RetryTransaction } from './postgres-pool.js';
import { lockUsage, usageChanges, type UsageDelta } from './postgres-usage.js';
import { AdmittedUsage, envelopeSize, QuotaCheck } from './quota.js';
import type { AcceptedCopy, CheckedLists, EnqueuedCopy, EnqueueInput, EnqueueManyResult, QueueQuota } from './server-store.js';

/** One enqueueMany call as the batch takes it: the copies of one send (checked distinct by the caller). */
export interface BatchedSend {
  inputs: readonly EnqueueInput[];
  quota: QueueQuota;
  lists?: CheckedLists;
}

export interface BatchOutcome {
  /** One per send, in the order given. */
  results: EnqueueManyResult[];
  /** False when no copy was stored: the caller rolls back (the zero usage rows the locks made go too). */
  wrote: boolean;
}

/** The idempotency key of a copy (design §5.5.2). */
const copyKey = (i: EnqueueInput) => `${i.sender}\n${i.senderDevice}\n${i.clientId}\n${i.recipient}\n${i.recipientDevice}`;

/**
 * Call inside a transaction. Lock order, as every store transaction (postgres-usage.ts): the device
 * lists FOR SHARE, then the usage rows of every copy of the batch, then the idempotency records and
 * queue rows (each written under its recipient device's usage lock).
 */
export async function enqueueBatch(client: pg.PoolClient, sends: readonly BatchedSend[]): Promise<BatchOutcome> {
  const results: Array<EnqueueManyResult | undefined> = await listsChanged(client, sends);
  const live = sends.flatMap((s, k) => (results[k] ? [] : [k]));
  const copies = live.flatMap((k) => sends[k]!.inputs);
  const locked = await lockUsage(
    client,
    copies.map((i) => ({ recipient: i.recipient, device: i.recipientDevice, sender: i.sender })),
  );
  const earlier = await acceptedEarlier(client, copies);
  const usage = new AdmittedUsage(locked);
  // Copies stored by the sends before in this batch: a later send with the same key is their duplicate.
  const taken = new Map<string, AcceptedCopy>();
  const toStore: EnqueueInput[] = [];
  const answers = new Map<number, Array<EnqueuedCopy | EnqueueInput>>();
  for (const k of live) {
    const send = sends[k]!;
    const check = new QuotaCheck(send.quota, usage);
    const answer: Array<EnqueuedCopy | EnqueueInput> = [];
    let refusal: EnqueueManyResult | undefined;
    for (const i of send.inputs) {
      const before = earlier.get(copyKey(i)) ?? taken.get(copyKey(i));
      if (before) {
        answer.push({ status: 'duplicate', id: before.id, sentAt: before.sentAt });
        continue;
      }
      refusal = check.admit(i);
      if (refusal) break;
      answer.push(i);
    }
    if (refusal) {
      results[k] = refusal;
      continue;
    }
    const fresh = answer.filter((a): a is EnqueueInput => !('status' in a));
    usage.admitted(fresh);
    for (const i of fresh) taken.set(copyKey(i), { id: i.id, sentAt: i.sentAt });
    toStore.push(...fresh);
    answers.set(k, answer);
  }
  const seqs = await store(client, toStore);
  for (const [k, answer] of answers) {
    results[k] = { status: 'accepted', copies: answer.map((a) => ('status' in a ? a : { status: 'stored', message: { ...a, seq: seqs.get(a.id)! } })) };
  }
  return { results: results.map((r) => r!), wrote: toStore.length > 0 };
}

/**
 * `lists_changed` for each send whose checked device lists are no longer the stored ones, undefined for
 * the others. One read, FOR SHARE, of every list the batch checked: a publish between a caller's check
 * and this commit either committed first (seen here) or waits for this transaction.
 */
async function listsChanged(client: pg.PoolClient, sends: readonly BatchedSend[]): Promise<Array<EnqueueManyResult | undefined>> {
  const names = sends.flatMap((s) => (s.lists ?? []).map((l) => l.username));
  if (names.length === 0) return sends.map(() => undefined);
  const versions = await sharedVersions(client, names);
  return sends.map((s) => ((s.lists ?? []).some((l) => (versions.get(l.username) ?? null) !== l.version) ? { status: 'lists_changed' } : undefined));
}

/**
 * The idempotency records that hold these copies' keys, by key. Read under the recipient devices' usage
 * locks: every writer of a record holds its device's lock until commit, so none can appear before this
 * transaction writes its own (the insert in `store` checks that all the same).
 */
async function acceptedEarlier(client: pg.PoolClient, copies: readonly EnqueueInput[]): Promise<Map<string, AcceptedCopy>> {
  const found = new Map<string, AcceptedCopy>();
  if (copies.length === 0) return found;
  const { rows } = await client.query<{ sender: string; sender_device: number; client_id: string; recipient: string; recipient_device: number; id: string; sent_at: number }>(
    `SELECT sender, sender_device, client_id, recipient, recipient_device, a.id, a.sent_at
     FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[]) AS k(sender, sender_device, client_id, recipient, recipient_device)
     JOIN accepted a USING (sender, sender_device, client_id, recipient, recipient_device)`,
    [copies.map((i) => i.sender), copies.map((i) => i.senderDevice), copies.map((i) => i.clientId), copies.map((i) => i.recipient), copies.map((i) => i.recipientDevice)],
  );
  for (const r of rows) {
    found.set(`${r.sender}\n${r.sender_device}\n${r.client_id}\n${r.recipient}\n${r.recipient_device}`, { id: r.id, sentAt: r.sent_at });
  }
  return found;
}

/**
 * Writes the admitted copies (distinct keys, in arrival order) in one statement: their idempotency
 * records, the queue rows, the usage. The queue rows are inserted in arrival order, so their seqs follow
 * it: one sender's messages keep the order they were sent in. The usage rows are this transaction's
 * already (lockUsage), so changing them in one statement waits on nothing but the server shards, which
 * it takes in their order as applyUsage would. Returns each copy's seq by its id.
 */
async function store(client: pg.PoolClient, copies: readonly EnqueueInput[]): Promise<Map<string, number>> {
  const seqs = new Map<string, number>();
  if (copies.length === 0) return seqs;
  const col = <T>(f: (i: EnqueueInput) => T) => copies.map(f);
  const claims = [col((i) => i.sender), col((i) => i.senderDevice), col((i) => i.clientId), col((i) => i.recipient), col((i) => i.recipientDevice), col((i) => i.id), col((i) => i.sentAt), col((i) => i.expiresAt)];
  const rows = [
    col((i) => i.id),
    col((i) => i.recipient),
    col((i) => i.recipientDevice),
    col((i) => i.sender),
    col((i) => i.senderDevice),
    col((i) => i.clientId),
    col((i) => i.sentAt),
    col((i) => i.expiresAt),
    col(envelopeSize),
    col((i) => i.envelope),
  ];
  const added: UsageDelta[] = copies.map((i) => ({ recipient: i.recipient, device: i.recipientDevice, sender: i.sender, count: 1, bytes: envelopeSize(i) }));
  const params: unknown[] = [...claims, ...rows];
  const usage = usageChanges(added).map((statement, k) => {
    const sql = `usage${k} AS (${statement.sql(params.length + 1)})`;
    params.push(...statement.params);
    return sql;
  });
  const result = await client.query<{ id: string; seq: number; claimed: number }>(
    `WITH claimed AS (
       INSERT INTO accepted (sender, sender_device, client_id, recipient, recipient_device, id, sent_at, expires_at)
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[], $8::bigint[])
       ON CONFLICT DO NOTHING RETURNING 1),
     queued AS (
       INSERT INTO queue (id, recipient, recipient_device, sender, sender_device, client_id, sent_at, expires_at, size, envelope)
       SELECT id, r, rd, s, sd, c, sa, ea, sz, e
       FROM unnest($9::text[], $10::text[], $11::int[], $12::text[], $13::int[], $14::text[], $15::bigint[], $16::bigint[], $17::int[], $18::text[])
         WITH ORDINALITY AS t(id, r, rd, s, sd, c, sa, ea, sz, e, n)
       ORDER BY n RETURNING id, seq),
     ${usage.join(',\n     ')}
     SELECT id, seq, (SELECT count(*) FROM claimed)::int AS claimed FROM queued`,
    params,
  );
  // A key taken since acceptedEarlier read it would mean a writer without the device lock: the
  // decisions rest on a stale read, so they are taken again from the start rather than patched.
  if (result.rows[0]?.claimed !== copies.length) throw new RetryTransaction('an idempotency key was taken during the send batch');
  for (const r of result.rows) seqs.set(r.id, r.seq);
  return seqs;
}
