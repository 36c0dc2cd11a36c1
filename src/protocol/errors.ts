/**
 * Error codes shared by the server's acks and the client library. The same string travels on the wire
 * (`{ ok: false, error: { code, message } }`) and in `ChatError.code`, so callers branch on one vocabulary.
 */
export const ERROR_CODES = [
  'bad_request', // payload failed its schema
  'unknown_event', // no such event
  'not_authenticated', // event needs a logged-in connection
  'already_authenticated', // register/login on a connection that is already logged in
  'invalid_username', // client-side: a local name does not match the documented pattern
  'invalid_key', // client-side: a peer's published key or prekey is malformed or badly signed
  'username_taken', // name bound to other keys
  'unknown_user', // no such registered user
  'bad_signature', // challenge signature did not verify
  'envelope_too_large', // envelope above the configured cap
  'quota_exceeded', // the recipient's queue is full (count or bytes)
  'sender_quota_exceeded', // this sender has too much queued for this recipient (count or bytes)
  'server_full', // the server's total storage cap is reached; nothing more is queued until it drains
  'prekey_limit', // an upload would leave more one-time prekeys stored than the server keeps per user
  'rate_limited', // connection sent events faster than allowed
  'no_prekeys', // the user has published no prekey bundle: no ratchet session can be started with them
  'devices_changed', // v2 send or prekeys.bundle named devices other than the current set; `details` says which
  'device_list_outdated', // devices.publish: the list is not newer than the stored one, or reuses a device id
  'unknown_device', // v2 login: no such device in the user's list (never linked, or removed)
  'upgrade_required', // v1 send in a conversation with more than one device: only a v2 client can write to it
  'unknown_link', // link.join, link.send: no open slot of that number for this user (one code for every case)
  'link_limit', // link.open: this connection has a slot already, or the server has the most it keeps open
  'attachment_too_large', // blob.create (and the client, before any upload): the file is over the server's attachment limit
  'blob_quota_exceeded', // blob.create: this user already holds the most blob bytes or blobs the server keeps per user
  'blob_not_found', // a blob download: no blob of that id for that capability (never uploaded, expired, fetched by every recipient, or a wrong capability)
  'group_exists', // group.create: a group of that id exists already
  'group_limit', // group.create: the caller created the most groups the server keeps; group.commit: the group would pass MAX_GROUP_MEMBERS
  'unknown_group', // group.*: no group of that id
  'not_group_member', // group.commit, group.send, group.sync, group.info: the caller's address is not a member of the group
  'group_epoch_stale', // group.commit, group.send: the epoch named is not the group's current one (a commit) or is ahead of it; `details.epoch` is the current one
  'key_package_limit', // mls.keypackages.upload: the device would hold more one-time KeyPackages than the server keeps
  'no_key_packages', // mls.keypackages.claim: no device of the user has a KeyPackage
  'internal', // server fault; nothing was changed
  // client-side only
  'decryption_failed', // any failure to open an envelope; deliberately says nothing more
  'peer_key_changed', // a peer's keys differ from the pinned ones; refuse until trusted
  'not_connected', // the client has no live connection
  'timeout', // the server did not answer in time
  'wrong_passphrase', // local key files could not be unlocked
  'bad_response', // the server's answer or event failed its schema, or answered another question
  'no_local_user', // this user has no keys on this machine: create them with `e2ee-chat receive --user NAME`
  'not_primary', // only device 1 holds the account key, so only it can change the device list
  'unsupported_server', // the server does not speak protocol 2 (its challenge answer names no protocols)
  'device_list_invalid', // a device list is malformed, not signed by the pinned account key, equivocates or reuses a device id
  'device_list_rollback', // a device list older than one already seen (or none after one was seen)
  'link_failed', // linking a device failed: the code did not match, a link frame was refused, or the other side aborted
  'file_unreadable', // a file to send cannot be read (missing, not a regular file), or changed while it was being sent
  'group_member_refused', // an MLS credential (KeyPackage, leaf, Welcome tree) does not match its user's verified device list
  'group_forked', // a group change: the commit that ended this device's epoch was refused here and the server went on with it
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Why a recipient's device could not read an envelope. Deliberately coarse toward the network:
 * decryption_failed covers every cryptographic and payload failure, so no one learns which check failed.
 */
export const REJECT_REASONS = [
  'decryption_failed', // did not decrypt, or decrypted to something that is not a valid message for this recipient
  'peer_key_changed', // the sender's keys differ from the ones the recipient pinned: kept sealed until they trust the new keys
  'unsupported', // an envelope type or version this client does not know
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export class ChatError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChatError';
    this.code = code;
  }
}

/** The one error every envelope-opening failure becomes, so no caller can tell which check failed. */
export class DecryptionFailedError extends ChatError {
  constructor(options?: { cause?: unknown }) {
    super('decryption_failed', 'decryption failed', options);
    this.name = 'DecryptionFailedError';
  }
}
