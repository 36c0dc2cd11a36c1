/**
 * The SQLite schema, as migrations: entry i moves the schema from version i to i+1, and
 * `PRAGMA user_version` records how far a database file has come. Never edit a released entry; append.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: registered users
  `CREATE TABLE users (
     username TEXT PRIMARY KEY,
     signing_key TEXT NOT NULL,
     encryption_key TEXT NOT NULL,
     signing_key_thumbprint TEXT NOT NULL,
     encryption_key_thumbprint TEXT NOT NULL,
     registered_at INTEGER NOT NULL
   ) STRICT`,
  // 2: the store-and-forward queue, idempotency records, delivery receipts
  `CREATE TABLE queue (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     recipient TEXT NOT NULL,
     sender TEXT NOT NULL,
     client_id TEXT NOT NULL,
     sent_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     size INTEGER NOT NULL,
     envelope TEXT NOT NULL
   ) STRICT;
   CREATE INDEX queue_by_recipient ON queue (recipient, seq);
   CREATE INDEX queue_by_expiry ON queue (expires_at);
   CREATE TABLE queue_usage (
     recipient TEXT PRIMARY KEY,
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE accepted (
     sender TEXT NOT NULL,
     client_id TEXT NOT NULL,
     id TEXT NOT NULL,
     sent_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (sender, client_id)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX accepted_by_expiry ON accepted (expires_at);
   CREATE TABLE receipts (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     sender TEXT NOT NULL,
     id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     recipient TEXT NOT NULL,
     delivered_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX receipts_by_sender ON receipts (sender, seq);
   CREATE INDEX receipts_by_expiry ON receipts (expires_at);`,
  // 3: published PQXDH prekeys (docs/PROTOCOL.md §14): one row of long-lived keys per user, and the
  //    one-time keys, each handed out once (DELETE ... RETURNING inside the bundle transaction)
  `CREATE TABLE prekey_identities (
     username TEXT PRIMARY KEY,
     identity_key TEXT NOT NULL,
     binding TEXT NOT NULL,
     signed_prekey TEXT,
     last_resort_kem_prekey TEXT,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE one_time_prekeys (
     username TEXT NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('x25519', 'mlkem1024')),
     id INTEGER NOT NULL,
     public_key TEXT NOT NULL,
     signature TEXT,
     PRIMARY KEY (username, kind, id)
   ) STRICT, WITHOUT ROWID;`,
  // 4: receipts say whether the recipient could read the message (ack.rejected): rows before this were
  //    all deliveries
  `ALTER TABLE receipts ADD COLUMN status TEXT NOT NULL DEFAULT 'delivered';
   ALTER TABLE receipts ADD COLUMN reason TEXT;`,
  // 5: usage per (recipient, sender) and for the whole server, kept beside queue_usage in the same
  //    transactions, so the per-sender and server-wide quotas cost one row lookup each
  `CREATE TABLE pair_usage (
     recipient TEXT NOT NULL,
     sender TEXT NOT NULL,
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     PRIMARY KEY (recipient, sender)
   ) STRICT, WITHOUT ROWID;
   INSERT INTO pair_usage (recipient, sender, count, bytes)
     SELECT recipient, sender, count(*), sum(size) FROM queue GROUP BY recipient, sender;
   CREATE TABLE server_usage (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL
   ) STRICT;
   INSERT INTO server_usage (id, count, bytes) SELECT 1, count(*), coalesce(sum(size), 0) FROM queue;`,
];
