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
  // 6: devices (docs/design/devices-v2.md §9.1). Everything queued, owed, accepted or published is kept
  //    per address (username, device); every row written before is device 1's, the device that
  //    registered the name (§3.4). `queue_usage` stays as the per-user total beside the new per-device
  //    `device_usage`; `pair_usage` is rebuilt per recipient device. The old idempotency table `accepted`
  //    has no recipient, so it cannot move: it stays, read only for (sender, 1) → (*, 1) until its records
  //    expire, and `accepted2` takes the new keys. SQLite cannot change a primary key, so the prekey
  //    tables are built anew and copied.
  `ALTER TABLE queue ADD COLUMN recipient_device INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE queue ADD COLUMN sender_device INTEGER NOT NULL DEFAULT 1;
   DROP INDEX queue_by_recipient;
   CREATE INDEX queue_by_recipient_device ON queue (recipient, recipient_device, seq);

   ALTER TABLE receipts ADD COLUMN sender_device INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE receipts ADD COLUMN recipient_device INTEGER NOT NULL DEFAULT 1;
   DROP INDEX receipts_by_sender;
   CREATE INDEX receipts_by_sender_device ON receipts (sender, sender_device, seq);

   CREATE TABLE device_lists (
     username TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     max_device_id INTEGER NOT NULL,
     list TEXT NOT NULL,
     signature TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE devices (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     signing_key TEXT NOT NULL,
     dh_key TEXT NOT NULL,
     encryption_key_n TEXT NOT NULL,
     name TEXT NOT NULL,
     added_at INTEGER NOT NULL,
     last_seen_at INTEGER,
     PRIMARY KEY (username, device_id)
   ) STRICT;

   CREATE TABLE device_usage (
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     PRIMARY KEY (recipient, recipient_device)
   ) STRICT, WITHOUT ROWID;
   INSERT INTO device_usage (recipient, recipient_device, count, bytes)
     SELECT recipient, recipient_device, count(*), sum(size) FROM queue GROUP BY recipient, recipient_device;

   DROP TABLE pair_usage;
   CREATE TABLE pair_usage (
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     sender TEXT NOT NULL,
     count INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     PRIMARY KEY (recipient, recipient_device, sender)
   ) STRICT, WITHOUT ROWID;
   INSERT INTO pair_usage (recipient, recipient_device, sender, count, bytes)
     SELECT recipient, recipient_device, sender, count(*), sum(size) FROM queue GROUP BY recipient, recipient_device, sender;

   CREATE TABLE accepted2 (
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     client_id TEXT NOT NULL,
     recipient TEXT NOT NULL,
     recipient_device INTEGER NOT NULL,
     id TEXT NOT NULL,
     sent_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (sender, sender_device, client_id, recipient, recipient_device)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX accepted2_by_expiry ON accepted2 (expires_at);

   CREATE TABLE prekey_identities_v6 (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     identity_key TEXT NOT NULL,
     binding TEXT NOT NULL,
     signed_prekey TEXT,
     last_resort_kem_prekey TEXT,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (username, device_id)
   ) STRICT;
   INSERT INTO prekey_identities_v6 (username, device_id, identity_key, binding, signed_prekey, last_resort_kem_prekey, updated_at)
     SELECT username, 1, identity_key, binding, signed_prekey, last_resort_kem_prekey, updated_at FROM prekey_identities;
   DROP TABLE prekey_identities;
   ALTER TABLE prekey_identities_v6 RENAME TO prekey_identities;

   CREATE TABLE one_time_prekeys_v6 (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('x25519', 'mlkem1024')),
     id INTEGER NOT NULL,
     public_key TEXT NOT NULL,
     signature TEXT,
     PRIMARY KEY (username, device_id, kind, id)
   ) STRICT, WITHOUT ROWID;
   INSERT INTO one_time_prekeys_v6 (username, device_id, kind, id, public_key, signature)
     SELECT username, 1, kind, id, public_key, signature FROM one_time_prekeys;
   DROP TABLE one_time_prekeys;
   ALTER TABLE one_time_prekeys_v6 RENAME TO one_time_prekeys;`,
  // 7: the MLS Delivery Service (docs/design/groups-mls.md §4): KeyPackages per device (one-time ones
  //    handed out once, oldest first; one last-resort one per device), groups with their epoch, routing
  //    membership and log. Each log entry is stored once; member devices' queues hold reference rows
  //    (store/group-deliveries.ts), so the queue table is unchanged.
  `CREATE TABLE key_packages (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     package TEXT NOT NULL
   ) STRICT;
   CREATE INDEX key_packages_by_device ON key_packages (username, device_id, id);
   CREATE TABLE last_resort_key_packages (
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     package TEXT NOT NULL,
     PRIMARY KEY (username, device_id)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE groups (
     group_id TEXT PRIMARY KEY,
     creator TEXT NOT NULL,
     epoch INTEGER NOT NULL,
     last_seq INTEGER NOT NULL,
     log_bytes INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX groups_by_creator ON groups (creator);
   CREATE TABLE group_members (
     group_id TEXT NOT NULL,
     username TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     joined_seq INTEGER NOT NULL,
     PRIMARY KEY (group_id, username, device_id)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE group_log (
     group_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     epoch INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('commit', 'application')),
     sender TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     message TEXT NOT NULL,
     welcome TEXT,
     sent_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (group_id, seq)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX group_log_by_expiry ON group_log (expires_at);`,
  // 8: the usage counters leave the database: each is a sum over the queue, which the store computes when
  //    it opens and keeps in memory (usage-counters.ts), instead of updating four rows per envelope
  //    queued and four per envelope removed.
  `DROP TABLE queue_usage;
   DROP TABLE device_usage;
   DROP TABLE pair_usage;
   DROP TABLE server_usage;`,
];
