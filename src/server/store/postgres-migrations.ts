/**
 * The PostgreSQL schema, as versioned migrations: entry i moves the schema from version i to i+1, and
 * the table `schema_migrations` records each one applied. Never edit a released entry; append.
 *
 * The schema starts where SQLite's is after its migration 6 (addresses: everything per device), without
 * SQLite's history (no v0.1 idempotency table): a PostgreSQL store has never held v0.1 data.
 */
import type pg from 'pg';

export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: users, device lists, the per-device queue with its usage counters, idempotency records,
  //    receipts, prekeys. Times are milliseconds (BIGINT). Usage counters are rows of their own, kept in
  //    the transactions that change the queue, so a quota check reads (and locks) one row per cap instead
  //    of summing the queue; locking them is also what serialises two nodes sending to one device. The
  //    server-wide total is split into 16 shards (by recipient device): one row would be updated by every
  //    send and ack and hold each of them until the one before has committed (postgres-usage.ts).
  `CREATE TABLE users (
     username TEXT PRIMARY KEY,
     signing_key TEXT NOT NULL,
     encryption_key TEXT NOT NULL,
     signing_key_thumbprint TEXT NOT NULL,
     encryption_key_thumbprint TEXT NOT NULL,
     registered_at BIGINT NOT NULL
   );
   CREATE TABLE queue (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     client_id TEXT NOT NULL,
     sent_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     size INTEGER NOT NULL,
     envelope TEXT NOT NULL
   );
   CREATE INDEX queue_by_recipient_device ON queue (recipient, recipient_device, seq);
   CREATE INDEX queue_by_sender_device ON queue (sender, sender_device);
   CREATE INDEX queue_by_expiry ON queue (expires_at);
   CREATE TABLE device_usage (
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL,
     PRIMARY KEY (recipient, recipient_device)
   );
   CREATE TABLE user_usage (
     recipient TEXT PRIMARY KEY,
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL
   );
   CREATE TABLE pair_usage (
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     sender TEXT NOT NULL,
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL,
     PRIMARY KEY (recipient, recipient_device, sender)
   );
   CREATE TABLE server_usage (
     shard INTEGER PRIMARY KEY CHECK (shard >= 0 AND shard < 16),
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL
   );
   INSERT INTO server_usage (shard, count, bytes) SELECT s, 0, 0 FROM generate_series(0, 15) AS s;
   CREATE TABLE accepted (
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     client_id TEXT NOT NULL,
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     id TEXT NOT NULL,
     sent_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     PRIMARY KEY (sender, sender_device, client_id, recipient, recipient_device)
   );
   CREATE INDEX accepted_by_expiry ON accepted (expires_at);
   CREATE TABLE receipts (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     delivered_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('delivered', 'unreadable', 'removed')),
     reason TEXT
   );
   CREATE INDEX receipts_by_sender_device ON receipts (sender, sender_device, seq);
   CREATE INDEX receipts_by_expiry ON receipts (expires_at);
   CREATE TABLE prekey_identities (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     identity_key TEXT NOT NULL,
     binding TEXT NOT NULL,
     signed_prekey TEXT,
     last_resort_kem_prekey TEXT,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (username, device_id)
   );
   CREATE TABLE one_time_prekeys (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('x25519', 'mlkem1024')),
     id INTEGER NOT NULL,
     public_key TEXT NOT NULL,
     signature TEXT,
     PRIMARY KEY (username, device_id, kind, id)
   );
   CREATE TABLE device_lists (
     username TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     max_device_id INTEGER NOT NULL,
     list TEXT NOT NULL,
     signature TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE devices (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     signing_key TEXT NOT NULL,
     dh_key TEXT NOT NULL,
     encryption_key_n TEXT NOT NULL,
     name TEXT NOT NULL,
     added_at BIGINT NOT NULL,
     last_seen_at BIGINT,
     PRIMARY KEY (username, device_id)
   );`,
  // 2: the MLS Delivery Service (docs/design/groups-mls.md §4), as SQLite's migration 7: KeyPackages per
  //    device, groups with their epoch, routing membership and log; each log entry stored once, member
  //    devices' queues holding reference rows (store/group-deliveries.ts).
  `CREATE TABLE key_packages (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     package TEXT NOT NULL
   );
   CREATE INDEX key_packages_by_device ON key_packages (username, device_id, id);
   CREATE TABLE last_resort_key_packages (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     package TEXT NOT NULL,
     PRIMARY KEY (username, device_id)
   );
   CREATE TABLE groups (
     group_id TEXT PRIMARY KEY,
     creator TEXT NOT NULL,
     epoch BIGINT NOT NULL,
     last_seq BIGINT NOT NULL,
     log_bytes BIGINT NOT NULL,
     created_at BIGINT NOT NULL
   );
   CREATE INDEX groups_by_creator ON groups (creator);
   CREATE TABLE group_members (
     group_id TEXT NOT NULL,
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     joined_seq BIGINT NOT NULL,
     PRIMARY KEY (group_id, username, device_id)
   );
   CREATE TABLE group_log (
     group_id TEXT NOT NULL,
     seq BIGINT NOT NULL,
     epoch BIGINT NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('commit', 'application')),
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     message TEXT NOT NULL,
     welcome TEXT,
     sent_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     PRIMARY KEY (group_id, seq)
   );
   CREATE INDEX group_log_by_expiry ON group_log (expires_at);`,
  // 3: files (docs/PROTOCOL.md §20), so every node serves every blob (blobs/postgres-blob-store.ts): a
  //    row per blob with what the disk store keeps in its record (the SHA-256 of the capabilities, never
  //    the capabilities), the bytes as rows of at most a mebibyte keyed by their offset, and the blob
  //    quotas as usage rows locked by blob.create. The chunks are stored uncompressed (STORAGE
  //    EXTERNAL): they are ciphertext, which PostgreSQL would try to compress in vain on every insert.
  `CREATE TABLE blobs (
     id TEXT PRIMARY KEY,
     owner TEXT NOT NULL,
     size BIGINT NOT NULL CHECK (size > 0),
     downloads INTEGER NOT NULL CHECK (downloads > 0),
     fetched INTEGER NOT NULL DEFAULT 0,
     received BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
     complete BOOLEAN NOT NULL DEFAULT false,
     created_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL,
     last_activity BIGINT NOT NULL,
     upload_token_hash TEXT NOT NULL,
     download_token_hash TEXT NOT NULL,
     upload_holder TEXT,
     upload_lease_until BIGINT
   );
   CREATE INDEX blobs_by_expiry ON blobs (expires_at);
   CREATE INDEX blobs_incomplete_by_activity ON blobs (last_activity) WHERE NOT complete;
   CREATE TABLE blob_chunks (
     blob_id TEXT NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
     byte_offset BIGINT NOT NULL,
     data BYTEA NOT NULL,
     PRIMARY KEY (blob_id, byte_offset)
   );
   ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
   CREATE TABLE blob_user_usage (
     owner TEXT PRIMARY KEY,
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL
   );
   CREATE TABLE blob_server_usage (
     single BOOLEAN PRIMARY KEY DEFAULT true CHECK (single),
     count BIGINT NOT NULL,
     bytes BIGINT NOT NULL
   );
   INSERT INTO blob_server_usage (single, count, bytes) VALUES (true, 0, 0);`,
];

/**
 * Brings the schema up to date (`schema`, which the pool's search_path names, created if absent; or the
 * connection's own search_path). Each migration runs in a transaction of
 * its own that first takes a transaction-scoped advisory lock keyed by the schema: two nodes starting at
 * once queue on the lock, and the second finds the version already recorded and applies nothing. A
 * migration that fails rolls back whole (PostgreSQL's DDL is transactional) and stops the start.
 */
export async function migratePostgres(pool: pg.Pool, schema?: string): Promise<void> {
  for (;;) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Keyed by the schema's name: current_schema() is null while a named schema does not exist yet.
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('e2ee-chat migrations'), hashtext(coalesce($1, current_schema(), '')))`, [schema ?? null]);
      // Under the lock: CREATE SCHEMA IF NOT EXISTS run by two sessions at once can still collide.
      if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
      const version = rows[0]?.version ?? 0;
      if (version > POSTGRES_MIGRATIONS.length) {
        throw new Error(`database schema version ${version} is newer than this server understands (${POSTGRES_MIGRATIONS.length})`);
      }
      if (version === POSTGRES_MIGRATIONS.length) {
        await client.query('COMMIT');
        return;
      }
      await client.query(POSTGRES_MIGRATIONS[version]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}
