/**
 * The blob store in PostgreSQL (blob-store.ts), for a server on the PostgreSQL store: every node of a
 * cluster reads and writes the same rows, so a blob uploaded through one node is served by any other,
 * and its fetch count, quotas and deletion are shared (docs/DEPLOY.md says what it costs: the database
 * holds the bytes). Tables of migration 3 (store/postgres-migrations.ts).
 *
 * - `blobs`: one row per blob, what the disk store keeps in its record, plus `received` (the upload
 *   offset) and the claim of the PUT appending now (`upload_holder`, `upload_lease_until`).
 * - `blob_chunks`: the bytes, rows of at most CHUNK_ROW_BYTES keyed by (blob, offset). A download reads
 *   one row at a time, as its reader takes them: never a whole blob in memory, and no connection held
 *   between rows (a slow reader costs the pool nothing).
 * - `blob_user_usage`, `blob_server_usage`: the quotas, locked by blob.create (owner row, then the
 *   server row) and changed in the transaction that creates or deletes a blob: exact across nodes.
 *
 * Two nodes never append to one blob at once: a PUT first claims the blob (a conditional UPDATE: no
 * live claim, and the offset it starts at is the stored one), renews the claim while it runs, and each
 * row it writes commits only if the blob row, locked by that UPDATE, still names it as the holder at
 * the offset it writes. A node that dies mid-PUT blocks the blob until its lease runs out
 * (DEFAULT_UPLOAD_LEASE_MS), then the client resumes through another node.
 */
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { BlobCreateResult, BlobPutAnswer } from '../../protocol/blob-schemas.js';
import type { ChatError } from '../../protocol/errors.js';
import { MAX_BLOB_CHUNK_BYTES } from '../../protocol/limits.js';
import { newServerId } from '../ids.js';
import { inTransaction, Rollback } from '../store/postgres-pool.js';
import { capabilityMatches, checkRange, createRefusal, newCapability, noSuchBlob, tokenHash, writeInBatches } from './blob-checks.js';
import { BlobRequestError, type BlobDownload, type BlobLimits, type BlobRange, type BlobStatus, type BlobStore, type BlobUsage } from './blob-store.js';

/**
 * Bytes per `blob_chunks` row: what a download holds in memory at a time (a row arrives whole), and
 * what an upload gathers before each insert. A PUT of up to MAX_BLOB_CHUNK_BYTES becomes up to 8 rows.
 */
export const CHUNK_ROW_BYTES = 1024 * 1024;
/** How long a PUT's claim holds unless renewed (every third of it): how long a dead node can block its blob. */
export const DEFAULT_UPLOAD_LEASE_MS = 10_000;
/** Blobs deleted per sweep transaction: each one takes its chunk rows with it, so batches stay short. */
const SWEEP_BATCH = 20;

export interface PostgresBlobStoreOptions extends BlobLimits {
  /** The server store's pool (PostgresServerStore.pool): its schema, already migrated. */
  pool: pg.Pool;
  uploadLeaseMs?: number;
}

interface BlobRow {
  id: string;
  owner: string;
  size: number;
  downloads: number;
  fetched: number;
  received: number;
  complete: boolean;
  expires_at: number;
  upload_token_hash: string;
  download_token_hash: string;
  upload_holder: string | null;
  upload_lease_until: number | null;
}

const BLOB_COLUMNS = 'id, owner, size, downloads, fetched, received, complete, expires_at, upload_token_hash, download_token_hash, upload_holder, upload_lease_until';

type Db = pg.Pool | pg.PoolClient;

/** Gives back the quota of deleted blobs: owners' rows in name order, then the server's (blob.create's lock order). */
async function releaseUsage(client: pg.PoolClient, gone: ReadonlyArray<{ owner: string; size: number }>): Promise<void> {
  if (gone.length === 0) return;
  const byOwner = new Map<string, BlobUsage>();
  for (const g of gone) {
    const u = byOwner.get(g.owner) ?? { count: 0, bytes: 0 };
    byOwner.set(g.owner, { count: u.count + 1, bytes: u.bytes + g.size });
  }
  for (const owner of [...byOwner.keys()].sort()) {
    const u = byOwner.get(owner)!;
    await client.query('UPDATE blob_user_usage SET count = count - $2, bytes = bytes - $3 WHERE owner = $1', [owner, u.count, u.bytes]);
  }
  const bytes = gone.reduce((sum, g) => sum + g.size, 0);
  await client.query('UPDATE blob_server_usage SET count = count - $1, bytes = bytes - $2', [gone.length, bytes]);
}

export class PostgresBlobStore implements BlobStore {
  private readonly pool: pg.Pool;
  private readonly now: () => number;
  private readonly leaseMs: number;

  private constructor(private readonly options: PostgresBlobStoreOptions) {
    this.pool = options.pool;
    this.now = options.now ?? Date.now;
    this.leaseMs = options.uploadLeaseMs ?? DEFAULT_UPLOAD_LEASE_MS;
  }

  /** Sweeps what expired while no node was running, like the disk store's start. */
  static async open(options: PostgresBlobStoreOptions): Promise<PostgresBlobStore> {
    const store = new PostgresBlobStore(options);
    await store.sweep();
    return store;
  }

  async usageOf(owner: string): Promise<BlobUsage> {
    const { rows } = await this.pool.query<BlobUsage>('SELECT count, bytes FROM blob_user_usage WHERE owner = $1', [owner]);
    return rows[0] ? { bytes: rows[0].bytes, count: rows[0].count } : { bytes: 0, count: 0 };
  }

  async totalBytes(): Promise<number> {
    const { rows } = await this.pool.query<{ bytes: number }>('SELECT bytes FROM blob_server_usage');
    return rows[0]?.bytes ?? 0;
  }

  async create(owner: string, size: number, downloads: number): Promise<BlobCreateResult> {
    const now = this.now();
    const uploadToken = newCapability();
    const downloadToken = newCapability();
    const id = newServerId();
    const expiresAt = now + this.options.ttlMs;
    const outcome = await inTransaction(this.pool, async (client): Promise<ChatError | undefined | Rollback<ChatError>> => {
      // The owner's row, created at zero if new, then the server's: locked until commit, so two nodes
      // creating at once check against each other's reservations.
      const used = await client.query<BlobUsage>(
        `INSERT INTO blob_user_usage AS u (owner, count, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (owner) DO UPDATE SET count = u.count RETURNING count, bytes`,
        [owner],
      );
      const server = await client.query<BlobUsage>('SELECT count, bytes FROM blob_server_usage FOR UPDATE');
      const refusal = createRefusal(this.options, size, used.rows[0]!, server.rows[0]!.bytes);
      if (refusal) return new Rollback(refusal);
      await client.query(
        `INSERT INTO blobs (id, owner, size, downloads, created_at, expires_at, last_activity, upload_token_hash, download_token_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8)`,
        [id, owner, size, downloads, now, expiresAt, tokenHash(uploadToken), tokenHash(downloadToken)],
      );
      await client.query('UPDATE blob_user_usage SET count = count + 1, bytes = bytes + $2 WHERE owner = $1', [owner, size]);
      await client.query('UPDATE blob_server_usage SET count = count + 1, bytes = bytes + $1', [size]);
      return undefined;
    });
    if (outcome) throw outcome;
    return { id, uploadToken, downloadToken, expiresAt, maxChunkBytes: MAX_BLOB_CHUNK_BYTES };
  }

  /** The row for `id` if `token` is its capability of that kind; otherwise not_found, the same for a wrong id or a wrong token. */
  private async authorised(db: Db, id: string, token: string, kind: 'upload' | 'download'): Promise<BlobRow> {
    const { rows } = await db.query<BlobRow>(`SELECT ${BLOB_COLUMNS} FROM blobs WHERE id = $1`, [id]);
    const row = rows[0];
    // Hashed and compared even for an unknown id, so the answer takes the same work either way.
    const ok = capabilityMatches(token, row && (kind === 'upload' ? row.upload_token_hash : row.download_token_hash));
    if (!row || !ok || row.expires_at <= this.now()) throw noSuchBlob();
    return row;
  }

  private claimed(row: BlobRow): boolean {
    return row.upload_holder !== null && (row.upload_lease_until ?? 0) > this.now();
  }

  async status(id: string, uploadToken: string): Promise<BlobStatus> {
    const row = await this.authorised(this.pool, id, uploadToken, 'upload');
    return { received: row.received, size: row.size, complete: row.complete };
  }

  async append(id: string, uploadToken: string, range: BlobRange, body: AsyncIterable<Uint8Array>): Promise<BlobPutAnswer> {
    const row = await this.authorised(this.pool, id, uploadToken, 'upload');
    checkRange(range, row, this.claimed(row));
    const holder = newCapability();
    if (!(await this.claim(id, holder, range.start))) {
      // Another node (or request) got there between the read and the claim: its answer, from the row as it is now.
      const now = await this.authorised(this.pool, id, uploadToken, 'upload');
      checkRange(range, now, this.claimed(now));
      throw new BlobRequestError('upload_in_progress', 'another upload request for this blob is still running');
    }
    const renewal = setInterval(() => void this.renew(id, holder).catch(() => undefined), Math.max(1, Math.floor(this.leaseMs / 3)));
    renewal.unref();
    let answer: BlobPutAnswer = { received: row.received, size: row.size, complete: false };
    try {
      let offset = range.start;
      await writeInBatches(body, range, CHUNK_ROW_BYTES, async (bytes) => {
        answer = await this.writeRow(id, holder, offset, bytes, row.size);
        offset += bytes.length;
      });
    } finally {
      clearInterval(renewal);
      await this.release(id, holder).catch((err: unknown) => this.options.logger?.warn({ err, blob: id }, 'a blob upload claim was not released; it lapses with its lease'));
    }
    return answer;
  }

  /** Takes the blob for one PUT starting at `start`: false when a live claim, another offset or the end is there. */
  private async claim(id: string, holder: string, start: number): Promise<boolean> {
    const now = this.now();
    const { rowCount } = await this.pool.query(
      `UPDATE blobs SET upload_holder = $2, upload_lease_until = $3, last_activity = $4
       WHERE id = $1 AND received = $5 AND NOT complete AND expires_at > $4
         AND (upload_holder IS NULL OR upload_lease_until <= $4)`,
      [id, holder, now + this.leaseMs, now, start],
    );
    return rowCount === 1;
  }

  private async renew(id: string, holder: string): Promise<void> {
    const now = this.now();
    await this.pool.query('UPDATE blobs SET upload_lease_until = $3 WHERE id = $1 AND upload_holder = $2', [id, holder, now + this.leaseMs]);
  }

  private async release(id: string, holder: string): Promise<void> {
    await this.pool.query('UPDATE blobs SET upload_holder = NULL, upload_lease_until = NULL, last_activity = $3 WHERE id = $1 AND upload_holder = $2', [id, holder, this.now()]);
  }

  /**
   * Appends one row at `offset`, under the lock of the blob's row: only while this PUT still holds the
   * blob and the stored bytes end at `offset`. One statement (one round trip, its own commit): the
   * UPDATE locks and moves the offset, the INSERT adds the row only if the UPDATE matched. The row that
   * brings the blob to its size completes it in the same commit (durable once it returns).
   */
  private async writeRow(id: string, holder: string, offset: number, bytes: Uint8Array, size: number): Promise<BlobPutAnswer> {
    const now = this.now();
    const { rowCount } = await this.pool.query(
      `WITH moved AS (
         UPDATE blobs SET received = received + $4, complete = (received + $4 = size), last_activity = $5, upload_lease_until = $6
         WHERE id = $1 AND upload_holder = $2 AND received = $3 RETURNING id)
       INSERT INTO blob_chunks (blob_id, byte_offset, data) SELECT id, $3, $7 FROM moved`,
      [id, holder, offset, bytes.length, now, now + this.leaseMs, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
    );
    if (rowCount !== 1) throw new BlobRequestError('upload_in_progress', 'this upload lost its claim on the blob (its lease ran out, or the blob is gone)');
    const received = offset + bytes.length;
    return { received, size, complete: received === size };
  }

  /**
   * A blob deleted while it is being read (past its expiry, or its last declared fetch by another
   * download) breaks the read off at the next row: the disk store's open file has no PostgreSQL
   * equivalent that would not hold a connection for the whole download.
   */
  async openDownload(id: string, downloadToken: string): Promise<BlobDownload> {
    const row = await this.authorised(this.pool, id, downloadToken, 'download');
    if (!row.complete) throw new BlobRequestError('incomplete', 'the upload of this blob has not finished');
    let counted = false;
    return {
      size: row.size,
      body: new ChunkReader(this.pool, id, row.size),
      fetched: async () => {
        if (counted) return;
        counted = true;
        await inTransaction(this.pool, async (client) => {
          const { rows } = await client.query<{ fetched: number; downloads: number }>('UPDATE blobs SET fetched = fetched + 1 WHERE id = $1 RETURNING fetched, downloads', [id]);
          if (rows[0] && rows[0].fetched >= rows[0].downloads) await this.delete(client, 'id = $1', [id]);
        });
      },
    };
  }

  private async delete(client: pg.PoolClient, where: string, params: unknown[]): Promise<number> {
    const { rows } = await client.query<{ owner: string; size: number }>(`DELETE FROM blobs WHERE ${where} RETURNING owner, size`, params);
    await releaseUsage(client, rows);
    return rows.length;
  }

  /**
   * In batches, each its own transaction; rows another node is deleting at the same moment are skipped
   * (SKIP LOCKED), so nodes sweeping together neither wait for each other nor delete a blob twice.
   */
  async sweep(): Promise<number> {
    const now = this.now();
    let removed = 0;
    for (;;) {
      const batch = await inTransaction(this.pool, (client) =>
        this.delete(
          client,
          `id IN (SELECT id FROM blobs
                  WHERE expires_at <= $1
                     OR (NOT complete AND last_activity + $2 <= $1 AND (upload_holder IS NULL OR upload_lease_until <= $1))
                  LIMIT $3 FOR UPDATE SKIP LOCKED)`,
          [now, this.options.uploadIdleMs, SWEEP_BATCH],
        ),
      );
      removed += batch;
      if (batch < SWEEP_BATCH) break;
    }
    if (removed > 0) this.options.logger?.info({ removed }, 'blobs expired');
    return removed;
  }
}

/**
 * A complete blob's rows, in offset order, one query per row as the consumer asks for more. The buffer
 * holds up to two rows, so the next row is being read while the last one is sent (about three rows in
 * memory per download at most; reading only once the last was sent made downloads wait on each query).
 */
class ChunkReader extends Readable {
  private offset = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly id: string,
    private readonly size: number,
  ) {
    super({ highWaterMark: 2 * CHUNK_ROW_BYTES });
  }

  override _read(): void {
    if (this.offset >= this.size) {
      this.push(null);
      return;
    }
    this.pool
      .query<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND byte_offset = $2', [this.id, this.offset])
      .then(({ rows }) => {
        const data = rows[0]?.data;
        if (!data || data.length === 0) throw noSuchBlob();
        this.offset += data.length;
        this.push(data);
      })
      .catch((err: unknown) => this.destroy(err as Error));
  }
}
