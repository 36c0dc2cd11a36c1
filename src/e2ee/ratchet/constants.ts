/**
 * Every constant of our Double Ratchet instantiation (Signal Double Ratchet spec, revision 1, 2016-11-20): the
 * limits of §3.2/§6.4 and the labels and sizes of the recommended algorithms of §5.2. docs/PROTOCOL.md §16
 * restates them; changing any label or size is a wire-format change.
 */
import { utf8Encode } from '../../crypto/bytes.js';

// ---- limits -------------------------------------------------------------------------------------

/**
 * MAX_SKIP (spec §3.2): the most message keys one received header may make us skip in one chain. It
 * bounds the work and memory an attacker can cause with one forged header (each skip is one HMAC pair
 * and 32 stored bytes), while still tolerating 1000 lost or delayed messages in a row.
 */
export const MAX_SKIP = 1000;

/**
 * Cap on skipped message keys stored across all chains of one session state (spec §6.4 lets
 * implementations delete skipped keys). When it is exceeded the oldest keys are dropped first, so a peer
 * that keeps skipping cannot grow our state without bound. 2000 = two full MAX_SKIP windows (e.g. the
 * tail of the previous chain plus the current one); libsignal uses the same number (MAX_MESSAGE_KEYS).
 */
export const MAX_STORED_SKIPPED_KEYS = 2000;

/**
 * Skipped message keys kept across ALL states of one session record (current + archived). A peer can
 * start any number of new sessions (the last-resort prekeys never run out) and make us fill each with
 * MAX_STORED_SKIPPED_KEYS; libsignal's limits allow 41 × 2000 = 82,000 keys, a 7.9 MiB pickle that our
 * client reloads and saves for every message of that peer (1.8 s each, measured in bench/ratchet-bounds.ts),
 * delaying every other peer's messages behind it. 3000 = the current state's full MAX_STORED_SKIPPED_KEYS
 * (out-of-order delivery in the live session is never cut short by this cap) plus one MAX_SKIP window
 * shared by the archived states, for late messages of a replaced session. Beyond it, the keys of the
 * oldest archived states go first (oldest keys first within a state).
 */
export const MAX_SKIPPED_KEYS_PER_SESSION = 3000;

/**
 * Previous session states kept in a SessionRecord besides the current one, for simultaneous initiation
 * and late messages of a replaced session; the oldest go first. libsignal keeps 40
 * (ARCHIVED_STATES_MAX_LENGTH). We keep fewer because each kept state multiplies the cost of a message
 * that decrypts in none of them (a forgery, or junk from a hostile peer): each is tried, at up to
 * 2 × MAX_SKIP chain steps and one DH ratchet step apiece (~10 ms). A new session starts only on
 * simultaneous initiation, a reinstall or a key change, so 10 replaced sessions still cover months.
 */
export const MAX_ARCHIVED_STATES = 10;

/**
 * Archived states kept within this many bytes of their pickles (pickledStateSize in state-size.ts). Over
 * it, the oldest archived states lose their skipped keys first, then the oldest states go. A state
 * without skipped keys is ~1 KB, ~3.3 KB while it still carries our PQXDH initial message (a session we
 * started that got no reply); the archive's share of MAX_SKIPPED_KEYS_PER_SESSION is 1000 keys × ~105 B.
 * Against a hostile peer (its states on our side are ~1 KB) the key and count caps bind first; this cap
 * binds when our own unanswered initiations pile up beside those keys, and bounds the archive whatever
 * fields a later version adds to a state.
 */
export const MAX_ARCHIVED_STATES_BYTES = 128 * 1024;

/**
 * Archived states a stored pickle may hold: 0.1 kept 40 (libsignal's number), so its records still load;
 * the excess is trimmed on load and the record is saved within the limits above.
 */
export const MAX_ARCHIVED_STATES_IN_PICKLE = 40;

/**
 * The bound the limits above put on a pickled SessionRecord (JSON text, before sealing): the current
 * state at most ~3.5 KB fixed + MAX_STORED_SKIPPED_KEYS × 105 B (~214 KB), plus MAX_ARCHIVED_STATES_BYTES
 * of archived states, plus framing. Not enforced on its own: test/e2ee/ratchet/bounds.test.ts checks that
 * the worst a hostile peer can do stays under it. (0.1: 7.9 MiB.)
 */
export const MAX_SESSION_RECORD_BYTES = 352 * 1024;

/** Header counters are unsigned 32-bit on the wire; a chain this long must be restarted. */
export const MAX_COUNTER = 0xffff_ffff;

// ---- KDF_RK (spec §5.2) -------------------------------------------------------------------------

/** HKDF-SHA-256(salt = rk, IKM = dh_out, info) -> 64 bytes = new root key || chain key. */
export const ROOT_KDF_INFO = utf8Encode('e2ee-chat_DoubleRatchet_RootChain_v1');
export const ROOT_KDF_OUTPUT_LENGTH = 64;

// ---- KDF_CK (spec §5.2) -------------------------------------------------------------------------

/** HMAC-SHA-256(ck, 0x01) = message key; HMAC-SHA-256(ck, 0x02) = next chain key. */
export const CHAIN_KDF_MESSAGE_KEY_INPUT = Uint8Array.of(0x01);
export const CHAIN_KDF_CHAIN_KEY_INPUT = Uint8Array.of(0x02);

// ---- ENCRYPT (spec §5.2) ------------------------------------------------------------------------

/** HKDF-SHA-256(IKM = mk, salt = 32 zero bytes, info) -> 80 bytes = AES key || HMAC key || IV. */
export const MESSAGE_KDF_INFO = utf8Encode('e2ee-chat_DoubleRatchet_MessageKeys_v1');
export const MESSAGE_KDF_SALT = new Uint8Array(32);
export const MESSAGE_KDF_OUTPUT_LENGTH = 80;

/**
 * HMAC-SHA-256 tag appended to each ciphertext: the full 32 bytes, not truncated. Spec §6.6 allows
 * truncation to 128 bits, but the 16 bytes saved are not worth the extra analysis; our per-message
 * overhead stays below libsignal's anyway (docs/PROTOCOL.md §16, "sizes").
 */
export const MAC_LENGTH = 32;

// ---- header -------------------------------------------------------------------------------------

/** First header byte: type-and-version of a Double Ratchet message (the PQXDH initial message uses 0x02). */
export const HEADER_VERSION = 0x01;
/** version (1) || DH ratchet public key (32) || PN (4, big-endian) || N (4, big-endian). */
export const HEADER_LENGTH = 41;
