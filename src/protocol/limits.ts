/** Every protocol limit, in one place, each with the reason for its value. */

/** Envelope cap: a long text message with headroom; large files belong in a separate blob channel. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024;

/**
 * Socket.IO frame cap (maxHttpBufferSize) as a multiple of the envelope cap. A `send` whose envelope is
 * over the envelope cap must reach the server whole to be answered `envelope_too_large` (a frame over
 * the transport cap only closes the connection, and a client would resend it for ever): 16× leaves room
 * for a message whose text is entirely 4-byte UTF-8 characters (×4), base64url (×4/3) and a margin.
 * The transport buffers at most one frame per connection, so this also bounds a connection's memory:
 * 1 MiB at the default envelope cap, Socket.IO's own default.
 */
export const TRANSPORT_FRAME_FACTOR = 16;
/**
 * Floor of the frame cap: a `group.commit` with the largest commit and Welcome (MAX_GROUP_COMMIT_BYTES +
 * MAX_GROUP_WELCOME_BYTES, ~683 KB as base64url) always fits, and so does a prekey upload of
 * PREKEY_UPLOAD_KEM_CHUNK ML-KEM keys (~36 KB). Socket.IO's own default.
 */
export const MIN_TRANSPORT_FRAME_BYTES = 1024 * 1024;

/** The server's Socket.IO frame cap for a given envelope cap. */
export function transportFrameBytes(maxEnvelopeBytes: number): number {
  return Math.max(MIN_TRANSPORT_FRAME_BYTES, TRANSPORT_FRAME_FACTOR * maxEnvelopeBytes);
}

/** Server: an HTTP request must have sent all its headers within this long (slow-header clients hold a descriptor each). */
export const DEFAULT_HTTP_HEADERS_TIMEOUT_MS = 10_000;
/**
 * Server: an HTTP request must have been received whole within this long. Socket.IO's long-polling
 * requests are received at once (only their answers are held), so this bounds slow uploads only.
 */
export const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** Server: an idle keep-alive HTTP connection is closed after this long (Node's own default). */
export const DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** 256-bit challenge: unguessable and never repeated across connections. */
export const CHALLENGE_BYTES = 32;

/** Unauthenticated sockets are dropped after this long: they hold memory and can do nothing else. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

/** Token bucket per connection: a generous human rate, but bounds what one socket can cost the server. */
export const DEFAULT_RATE_LIMIT_PER_SECOND = 200;
export const DEFAULT_RATE_LIMIT_BURST = 400;

/**
 * Over the rate, an event waits (up to this long) for its token instead of being refused: a client's
 * pipelined sends then slow down but keep their order. Beyond it: rate_limited.
 */
export const RATE_LIMIT_MAX_DELAY_MS = 1000;

/** Username: 1–32 characters, lower-case ASCII letter first, then letters, digits, '_' or '-'. */
export const USERNAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
export const USERNAME_MAX_LENGTH = 32;

/** Client-side: how long to wait for an ack before reporting a timeout. */
export const DEFAULT_ACK_TIMEOUT_MS = 10_000;

/** Client-side: message ids are 128-bit random, base64url (22 characters). */
export const MESSAGE_ID_BYTES = 16;

/** Server: envelopes unacknowledged on one connection before delivery pauses (flow control). */
export const DELIVERY_WINDOW = 512;

/** Server: envelopes read from the store per backlog query. */
export const DELIVERY_BATCH = 256;

/** Server: default per-recipient-device queue caps. 100,000 envelopes or 256 MiB, whichever comes first. */
export const DEFAULT_QUEUE_MAX_COUNT = 100_000;
export const DEFAULT_QUEUE_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Server: default cap on the bytes queued for all devices of one recipient user (devices-v2 §9.4): four
 * device queues' worth, so a user's six devices, idle, cannot take six (1.5 GiB).
 */
export const DEFAULT_USER_QUEUE_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Server: default caps on what ONE sender may have queued for one recipient: a tenth of the recipient's
 * count and an eighth of its bytes, so one account (say, a stranger flooding a victim who is offline)
 * can take only part of the victim's queue and every other correspondent still gets through. 10,000
 * unread messages from one person is far beyond any real conversation within the 30-day expiry.
 */
export const DEFAULT_SENDER_QUEUE_MAX_COUNT = 10_000;
export const DEFAULT_SENDER_QUEUE_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Server: default cap on the bytes of all queued envelopes (their JSON text; SQLite's own overhead
 * comes on top). Sized for a small VPS disk, so many flooding accounts together cannot fill the disk
 * and stop the database; an operator with more space raises it.
 */
export const DEFAULT_SERVER_QUEUE_MAX_BYTES = 4 * 1024 * 1024 * 1024;

/** Server: queued envelopes, idempotency records and receipts expire after 30 days by default. */
export const DEFAULT_QUEUE_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Server: how often expired envelopes are swept. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;

/**
 * Server: the longest a drain on SIGTERM may take before the process exits anyway (src/server/drain.ts).
 * Ten seconds: under the 30 s a supervisor (systemd, Kubernetes) usually allows before SIGKILL, and far
 * above what moving a node's clients and committing its last writes takes.
 */
export const DEFAULT_DRAIN_SECONDS = 10;

/**
 * Server: how long a draining node answers 503 at /health before it moves its clients. 0 for a node
 * alone; behind a load balancer, its health-check interval times its fall count (docs/DEPLOY.md).
 */
export const DEFAULT_DRAIN_NOTICE_SECONDS = 0;

/** Most ids one `ack` event may carry: bounds the work of one event. */
export const MAX_ACK_IDS = 1000;

/** Client message ids (idempotency keys): 16 to 64 base64url characters. */
export const CLIENT_ID_MIN_LENGTH = 16;
export const CLIENT_ID_MAX_LENGTH = 64;

/**
 * Most one-time prekeys of one kind per `prekeys.upload`. 200 X25519 keys are ~10 KB; ML-KEM-1024 keys
 * are ~2.2 KB each with their signature, so the frame cap (transportFrameBytes) limits a real upload
 * to fewer of them: clients send ML-KEM keys in chunks of PREKEY_UPLOAD_KEM_CHUNK.
 */
export const MAX_PREKEYS_PER_UPLOAD = 200;
/** ML-KEM-1024 prekeys a client puts in one upload: 16 × ~2.2 KB stays well inside the smallest frame cap (256 KiB). */
export const PREKEY_UPLOAD_KEM_CHUNK = 16;
/** Ratchet envelope body cap in base64url characters: the hybrid ciphertext's bound; the relay's envelope cap applies on top. */
export const MAX_RATCHET_BODY_CHARS = 256 * 1024;

/**
 * Server: one-time prekeys of each kind (X25519, ML-KEM) kept per user at most; an upload that would
 * exceed it is refused with `prekey_limit`. Clients hold ONE_TIME_PREKEY_TARGET (100) and
 * KEM_ONE_TIME_PREKEY_TARGET (40); 200 leaves room for a refill racing a second process of the user.
 */
export const MAX_STORED_ONE_TIME_PREKEYS = 200;

/**
 * Server: below this many one-time prekeys of either kind after a bundle fetch, the owner's connected
 * devices get a `prekeys.low` event; equal to the client's refill threshold (PREKEY_REFILL_THRESHOLD).
 */
export const PREKEY_LOW_THRESHOLD = 20;

/**
 * Server: `prekeys.bundle` fetches per requesting user (across all their connections), as a token
 * bucket. A client fetches a bundle once per new session (a new contact, or a peer's new keys); 30 at
 * once and one every 2 s after that covers opening many conversations, while one account can no longer
 * drain everyone's one-time prekeys in a loop.
 */
export const DEFAULT_BUNDLE_FETCH_PER_REQUESTER_PER_MINUTE = 30;
export const DEFAULT_BUNDLE_FETCH_PER_REQUESTER_BURST = 30;
/**
 * Server: `prekeys.bundle` fetches of one target user, from anyone. 60 at once then one a second: far
 * above the rate at which real people start sessions with one person, and slow enough that the owner's
 * client (told by `prekeys.low`) refills before a crowd of accounts drains its one-time keys.
 */
export const DEFAULT_BUNDLE_FETCH_PER_TARGET_PER_MINUTE = 60;
export const DEFAULT_BUNDLE_FETCH_PER_TARGET_BURST = 60;

/**
 * Devices per user: the primary and five linked (a phone, two computers, a browser and spares). Bounds
 * the fan-out of one message and the size of a device list and of one `send`.
 */
export const MAX_DEVICES_PER_USER = 6;
/** A device's name in the signed list, in UTF-8 bytes: a label, not a description (it is public). */
export const MAX_DEVICE_NAME_BYTES = 32;

/**
 * Envelopes in one v2 `send`: every device of the recipient (6) and every other device of the sender
 * (5). Eleven envelopes at the envelope cap, with their JSON, fit in one frame (16 × the cap).
 */
export const MAX_ENVELOPES_PER_SEND = MAX_DEVICES_PER_USER + (MAX_DEVICES_PER_USER - 1);
/** Secret characters of a link code: 8 of Crockford's base32 = 40 bits, with one guess per code. */
export const LINK_CODE_SECRET_CHARS = 8;
/** A link slot lives ten minutes: time to walk to the other machine and type the code. */
export const LINK_TTL_MS = 10 * 60 * 1000;
/** Server-wide open link slots: they live in memory, and `link.open` needs no login. */
export const MAX_OPEN_LINKS = 10_000;
/** One relayed link frame, in base64url characters: a 48,000-byte record with its framing fits. */
export const LINK_MAX_FRAME_CHARS = 65_536;
/** Frames per link slot in each direction: about 3 MB of provisioning at most. */
export const LINK_MAX_FRAMES = 64;
/** Upper bound of `--history N`: the last N messages a primary sends a newly linked device. */
export const MAX_HISTORY_ON_LINK = 10_000;
/**
 * `devices_changed` refreshes of one outbox entry within one send attempt; past it the attempt counts as
 * failed, so a server that keeps changing its answer cannot make a client loop.
 */
export const DEVICE_SET_RETRIES = 3;
/** Device ids run 1 … 2³¹−1: exact in every JSON number implementation and in signed 32-bit columns. */
export const MAX_DEVICE_ID = 0x7fff_ffff;
/** Plaintext bytes of one link record (one frame), so that a full frame stays under LINK_MAX_FRAME_CHARS. */
export const LINK_RECORD_MAX_PLAINTEXT_BYTES = 48_000;

/**
 * Files (docs/PROTOCOL.md §20). The largest file, before padding, a client may send by default: a long
 * video or a big document, and still a small share of the per-user blob quota below. Announced at login
 * (`limits.maxAttachmentBytes`); the server's own cap is on the blob it stores (maxBlobBytesFor).
 */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024;
/**
 * Server: bytes in one upload request (`PUT /blobs/<id>`) at most. A request must arrive whole within
 * the HTTP request timeout (30 s by default), so a chunk is what a slow link sends in that time; uploads
 * are many chunks, each resumable.
 */
export const MAX_BLOB_CHUNK_BYTES = 8 * 1024 * 1024;
/**
 * Client: the first chunk of an upload. Later ones double while a chunk takes under
 * BLOB_CHUNK_FAST_MS, up to MAX_BLOB_CHUNK_BYTES, and halve when one takes over BLOB_CHUNK_SLOW_MS (or
 * fails): a request every few seconds on any link, far from the request timeout.
 */
export const INITIAL_BLOB_CHUNK_BYTES = 1024 * 1024;
export const MIN_BLOB_CHUNK_BYTES = 64 * 1024;
export const BLOB_CHUNK_FAST_MS = 2_000;
export const BLOB_CHUNK_SLOW_MS = 10_000;
/** Client: tries of one upload or download after a passing failure (network, 5xx, a busy blob), with backoff. */
export const BLOB_TRANSFER_ATTEMPTS = 5;
/**
 * Server: complete fetches a blob.create may ask for: one per recipient device (one today; up to 6
 * devices per user in protocol v2, for the recipient and the sender's other devices), with room.
 */
export const MAX_BLOB_DOWNLOADS = 64;
/** Capabilities (upload token, download token) and blob ids: 128-bit random, base64url (22 characters). */
export const BLOB_TOKEN_BYTES = 16;
/**
 * Server: blob bytes one user may hold at once (uploaded or being uploaded, not yet fetched by every
 * recipient nor expired): ten files at the default limit. Count cap: empty files cost a blob each.
 */
export const DEFAULT_BLOB_USER_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_BLOB_USER_MAX_COUNT = 1000;
/** Server: blob bytes on the whole server, sized like the envelope cap for a small VPS disk; beyond it blob.create gets `server_full`. */
export const DEFAULT_BLOB_SERVER_MAX_BYTES = 10 * 1024 * 1024 * 1024;
/**
 * Server: an upload that received nothing for this long is abandoned and deleted (its bytes stop
 * counting against the owner's quota). An hour covers a client riding out a network outage; a client
 * that gave up starts a new blob.
 */
export const DEFAULT_BLOB_UPLOAD_IDLE_MS = 60 * 60 * 1000;
/** Server: `blob.create` per user (across their connections): a burst of 60 files, then one a second. */
export const BLOB_CREATE_PER_USER_PER_MINUTE = 60;
export const BLOB_CREATE_PER_USER_BURST = 60;
/**
 * Server: requests under /blobs/ per client address. Chunks are at least a megabyte each once an upload
 * gets going, so 50 a second is far beyond one person's transfers, and bounds what a flood costs.
 */
export const DEFAULT_BLOB_HTTP_RATE_PER_SECOND = 50;
export const DEFAULT_BLOB_HTTP_RATE_BURST = 200;

/**
 * Groups (docs/design/groups-mls.md §4, §5). A group id is 32 random bytes (src/e2ee/mls/group-commits.ts
 * GROUP_ID_BYTES): unguessable, so it names a group without saying anything about it.
 */
export const GROUP_ID_BYTES = 32;
/**
 * One KeyPackage (an MLSMessage) in bytes at most: ours are 2,689 bytes with suite 83 (X-Wing's 1,216-byte
 * key and the credential); 4 KiB leaves room for extensions and a longer credential, not for anything else.
 */
export const MAX_KEY_PACKAGE_BYTES = 4096;
/** One-time KeyPackages per `mls.keypackages.upload`: 40 at the size cap are ~218 KB of base64url, inside the smallest frame. */
export const MAX_KEY_PACKAGES_PER_UPLOAD = 40;
/**
 * Server: one-time KeyPackages kept per device at most (~270 KB each device); an upload that would exceed
 * it is refused with `key_package_limit`. A device adds itself to at most one group per package claimed.
 */
export const MAX_STORED_KEY_PACKAGES = 100;
/** Server: below this many one-time KeyPackages after a claim, the device's connections get `mls.keypackages.low`. */
export const KEY_PACKAGE_LOW_THRESHOLD = 10;
/**
 * Member devices (MLS leaves) of one group at most. Measured at 50 (design §9: ~60 ms per member to
 * process an add, a 74 KB Welcome); 100 keeps the Welcome under MAX_GROUP_WELCOME_BYTES and the cost of
 * one add within seconds, until larger groups are measured (design §10).
 */
export const MAX_GROUP_MEMBERS = 100;
/**
 * A commit (a PrivateMessage) in bytes at most. A commit carries each added KeyPackage by value (2.7 KB)
 * and an UpdatePath (an X-Wing ciphertext per tree level): 256 KiB holds a group created with ~90 devices.
 */
export const MAX_GROUP_COMMIT_BYTES = 256 * 1024;
/** A Welcome in bytes at most: it carries the ratchet tree (~1.5 KB a leaf, 74 KB at 50 members). */
export const MAX_GROUP_WELCOME_BYTES = 256 * 1024;
/** An application message (a PrivateMessage) in bytes at most: the 1:1 envelope cap, as it carries the same payloads. */
export const MAX_GROUP_MESSAGE_BYTES = DEFAULT_MAX_ENVELOPE_BYTES;
/** Log entries one `group.sync` returns at most: one delivery batch. */
export const GROUP_SYNC_BATCH = 256;
/**
 * Server: groups one user may create. Groups are never deleted (their log entries expire; the epoch and
 * membership stay), and each group's log may take up to DEFAULT_GROUP_LOG_MAX_BYTES, so this bounds what
 * one account can make the server keep.
 */
export const MAX_GROUPS_PER_CREATOR = 1000;
/**
 * Server: bytes of one group's log (commits and application messages not yet expired; each stored once
 * however many members). Past it `group.send` and `group.commit` are `quota_exceeded` until entries
 * expire: 64 MiB is a thousand long messages a day for a month.
 */
export const DEFAULT_GROUP_LOG_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Server: `mls.keypackages.claim` devices per requesting user (its own bucket, not the bundle fetches'):
 * one device of each member is claimed when a group is formed or grows, so the burst lets one person
 * form a group of the largest size (MAX_GROUP_MEMBERS devices) at once, and the rate refills it in a
 * minute. Each target device's own bucket (the bundle fetches' per-target one) still guards its stock.
 */
export const DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_PER_MINUTE = 100;
export const DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_BURST = 100;
