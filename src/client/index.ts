/** Public entry of the client library. */
export { ChatClient } from './chat-client.js';
export type { OwnDevice } from './own-devices.js';
export { fetchBlobHttp, type BlobHttp, type BlobHttpAnswer } from './blob-transfer.js';
export type { AttachmentPointer, AttachmentSink, AttachmentSource } from './chat-client.js';
export { attachmentFallbackBody, formatByteSize } from '../e2ee/attachment-pointer.js';
export { safeFileName } from './file-name.js';
export type { ChatClientEvents, ChatClientOptions, ClientIdentity, ReceivedMessage, RejectedMessage, SentMessage, UnreadableReceipt } from './chat-client.js';
export type {
  CopyState,
  HeldEnvelope,
  HeldLimits,
  HistoryRecord,
  MessageStatus,
  MessageStore,
  OutboxCopy,
  OutboxEntry,
  OutboxEntryV1,
  OutboxFailure,
  PeerKeyStore,
  PinChange,
  PinnedPeer,
} from './stores.js';
export type { Address, AddressLike } from './address.js';
export { PeerDeviceLists, type DeviceListUpdate } from './peer-device-lists.js';
export { DEFAULT_HELD_LIMITS, MAX_HELD_BYTES, MAX_HELD_PER_PEER, MAX_HELD_TOTAL, unreadableRecordId } from './stores.js';
export { MAX_SEND_ATTEMPTS } from './outbox-sender.js';
export { MemoryMessageStore, MemoryPeerKeyStore, MemoryTriedLinkCodes } from './memory-stores.js';
export { requestDeviceLink, type DeviceLinkOptions, type PendingDeviceLink } from './device-link-request.js';
export { adoptProvisioning, type ProvisionedDevice } from './link-provisioning.js';
export type { ApprovedDevice, ApproveOptions, OfferedDevice } from './device-approval.js';
export type { TriedLinkCodes } from './stores.js';
export { linkUri } from './link-uri.js';
export { MemoryRatchetStore } from './ratchet-store.js';
export { MemoryGroupStore } from './groups/memory-group-store.js';
export type { GroupStore } from './groups/group-store.js';
export { MemoryGroupHistory } from './groups/memory-group-history.js';
export { entryTime, groupChangeEntry, groupChangeId, groupTextEntry, groupTextId, type GroupChangeEntry, type GroupHistoryEntry, type GroupHistoryStore, type GroupTextEntry } from './groups/group-history.js';
export type { GroupInfo } from './groups/group-manager.js';
export type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from './groups/group-runtime.js';
export type { RatchetStore } from './ratchet-store.js';
export { PeerKeyChangedError } from './peer-keys.js';
export { formatFingerprint } from './fingerprint.js';
export { formatSafetyNumber, safetyNumber, SAFETY_NUMBER_DIGITS, type SafetyNumberParty } from '../e2ee/safety-number.js';
export type { SeenKeys } from './peer-directory.js';
export { generateUserKeyPairs } from '../crypto/keys.js';
export { deviceSecretsFromJwks, webCryptoDeviceSecrets, type DeviceSecrets, type WebCryptoDeviceKeys } from './device-secrets.js';
export { ed25519SigningKeyFromSeed, generateWebCryptoSigningKey, webCryptoSigningKey, type Ed25519SigningKey } from '../crypto/signing-key.js';
export { ChatError, DecryptionFailedError } from '../protocol/errors.js';
export type { ErrorCode } from '../protocol/errors.js';
