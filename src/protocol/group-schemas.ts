/**
 * Wire shapes of the MLS Delivery Service (docs/design/groups-mls.md §4, §5): the KeyPackage directory
 * (`mls.keypackages.*`), the group events (`group.*`), their answers and the three pushed events.
 *
 * MLS bytes (KeyPackages, commits, Welcomes, application messages) travel as unpadded base64url of one
 * MLSMessage each and are opaque here and on the server: only their sizes are checked (the server imports
 * no MLS code; every member checks what matters, design §3). Payloads are strict objects (a member the
 * server does not know is refused); answers and pushed events drop unknown members, like every
 * server → client frame.
 */
import { z } from 'zod';
import { base64urlDecode } from '../crypto/bytes.js';
import { deviceIdSchema, deviceListVersionSchema } from './device-list-wire.js';
import {
  GROUP_ID_BYTES,
  GROUP_SYNC_BATCH,
  MAX_GROUP_COMMIT_BYTES,
  MAX_GROUP_MEMBERS,
  MAX_GROUP_MESSAGE_BYTES,
  MAX_GROUP_WELCOME_BYTES,
  MAX_KEY_PACKAGE_BYTES,
  MAX_KEY_PACKAGES_PER_UPLOAD,
  MAX_DEVICES_PER_USER,
} from './limits.js';
import { base64url, usernameSchema } from './schemas.js';

/** Unpadded base64url characters of `bytes` bytes. */
const charsOf = (bytes: number) => Math.ceil((bytes * 4) / 3);

/** base64url of 1 … `maxBytes` bytes, of a length base64url can have. */
const mlsBytesSchema = (maxBytes: number, what: string) =>
  base64url(charsOf(maxBytes))
    .min(2, `${what} is at least one byte`)
    .refine((text) => text.length % 4 !== 1, 'impossible base64url length');

/** One KeyPackage as an MLSMessage (RFC 9420 §6): ours are 2,689 bytes (suite 83). */
export const keyPackageWireSchema = mlsBytesSchema(MAX_KEY_PACKAGE_BYTES, 'a KeyPackage');
/** A commit as an MLS PrivateMessage (our groups encrypt handshakes too). */
export const groupCommitWireSchema = mlsBytesSchema(MAX_GROUP_COMMIT_BYTES, 'a commit');
/** A Welcome as an MLSMessage; it carries the ratchet tree (about 74 KB at 50 members). */
export const groupWelcomeWireSchema = mlsBytesSchema(MAX_GROUP_WELCOME_BYTES, 'a Welcome');
/** An application message as an MLS PrivateMessage. */
export const groupMessageWireSchema = mlsBytesSchema(MAX_GROUP_MESSAGE_BYTES, 'a message');

/** A group id: 32 random bytes (`GROUP_ID_BYTES`), base64url, canonical (43 characters). */
export const groupIdSchema = base64url(43)
  .length(charsOf(GROUP_ID_BYTES), `a group id is ${GROUP_ID_BYTES} bytes (43 characters)`)
  .refine((id) => {
    try {
      return base64urlDecode(id).length === GROUP_ID_BYTES;
    } catch {
      return false;
    }
  }, 'group id is not canonical base64url');

/** An MLS epoch as the server counts it: 0 at creation, one more per accepted commit. */
export const groupEpochSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A group sequence number: 1 for the first message (commit or application) of a group, then +1. */
export const groupSeqSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** `afterSeq` of `group.sync`: 0 reads from the start of what the caller may read. */
const afterSeqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const countSchema = z.number().int().nonnegative();
/** Server ids of queued copies: 16 random bytes, base64url (the id `ack` settles). */
const serverIdSchema = base64url(22).length(22);
const timestampSchema = z.number().int().nonnegative();

/** One device of one user (PROTOCOL.md §19.1): a group's member, a leaf of its MLS tree. */
export const groupAddressSchema = z.strictObject({ user: usernameSchema, device: deviceIdSchema });
/** The same address in a server → client frame (unknown members dropped). */
const groupAddressAnswerSchema = z.object({ user: usernameSchema, device: deviceIdSchema });

const addressKey = (a: { user: string; device: number }) => `${a.user}/${a.device}`;

/** Addresses, each at most once, at most MAX_GROUP_MEMBERS. */
const distinctAddresses = <T extends z.ZodType<{ user: string; device: number }>>(address: T) =>
  z
    .array(address)
    .max(MAX_GROUP_MEMBERS)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((a, i) => {
        const key = addressKey(a);
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `${key} is named twice` });
        seen.add(key);
      });
    });

// --- client → server payloads -----------------------------------------------------------------------

/**
 * `mls.keypackages.upload`: one-time KeyPackages of the caller's device, and optionally its new
 * last-resort one (which replaces the one stored). At least one package.
 */
export const keyPackagesUploadPayloadSchema = z
  .strictObject({
    packages: z.array(keyPackageWireSchema).max(MAX_KEY_PACKAGES_PER_UPLOAD),
    lastResort: keyPackageWireSchema.optional(),
  })
  .refine((p) => p.packages.length > 0 || p.lastResort !== undefined, 'an upload carries at least one KeyPackage');

/**
 * `mls.keypackages.claim`: one KeyPackage per device of `user`'s current list, whose version the claimer
 * verified (`null`: the user has published no list and is device 1 alone).
 */
export const keyPackagesClaimPayloadSchema = z.strictObject({ user: usernameSchema, listVersion: deviceListVersionSchema.nullable() });

export const groupCreatePayloadSchema = z.strictObject({ groupId: groupIdSchema });

/**
 * `group.commit`: a commit made in `epoch`, the addresses it adds (with the Welcome for them) and the ones
 * it removes. `welcome` comes exactly when `add` is not empty; no address is both added and removed.
 */
export const groupCommitPayloadSchema = z
  .strictObject({
    groupId: groupIdSchema,
    epoch: groupEpochSchema,
    commit: groupCommitWireSchema,
    welcome: groupWelcomeWireSchema.optional(),
    add: distinctAddresses(groupAddressSchema),
    remove: distinctAddresses(groupAddressSchema),
  })
  .superRefine((p, ctx) => {
    if (p.add.length > 0 && p.welcome === undefined) ctx.addIssue({ code: 'custom', path: ['welcome'], message: 'a commit that adds devices brings their Welcome' });
    if (p.add.length === 0 && p.welcome !== undefined) ctx.addIssue({ code: 'custom', path: ['welcome'], message: 'a Welcome comes only with added devices' });
    const removed = new Set(p.remove.map(addressKey));
    p.add.forEach((a, i) => {
      if (removed.has(addressKey(a))) ctx.addIssue({ code: 'custom', path: ['add', i], message: `${addressKey(a)} is both added and removed` });
    });
  });

export const groupSendPayloadSchema = z.strictObject({ groupId: groupIdSchema, epoch: groupEpochSchema, message: groupMessageWireSchema });
export const groupSyncPayloadSchema = z.strictObject({ groupId: groupIdSchema, afterSeq: afterSeqSchema });
export const groupInfoPayloadSchema = z.strictObject({ groupId: groupIdSchema });

export type GroupAddress = z.infer<typeof groupAddressSchema>;
export type KeyPackagesUploadPayload = z.infer<typeof keyPackagesUploadPayloadSchema>;
export type KeyPackagesClaimPayload = z.infer<typeof keyPackagesClaimPayloadSchema>;
export type GroupCreatePayload = z.infer<typeof groupCreatePayloadSchema>;
export type GroupCommitPayload = z.infer<typeof groupCommitPayloadSchema>;
export type GroupSendPayload = z.infer<typeof groupSendPayloadSchema>;
export type GroupSyncPayload = z.infer<typeof groupSyncPayloadSchema>;
export type GroupInfoPayload = z.infer<typeof groupInfoPayloadSchema>;

// --- answers ------------------------------------------------------------------------------------------

/** `mls.keypackages.upload`: how many one-time packages this upload stored, and how many the device holds. */
export const keyPackagesUploadAnswerSchema = z.object({ stored: countSchema, oneTime: countSchema });
export const keyPackagesCountAnswerSchema = z.object({ oneTime: countSchema, lastResort: z.boolean() });

export const claimedKeyPackageSchema = z.object({ device: deviceIdSchema, keyPackage: keyPackageWireSchema, lastResort: z.boolean() });
/** One package per device of the list that has one, in device order; a device without any is absent. */
export const keyPackagesClaimAnswerSchema = z.object({
  listVersion: deviceListVersionSchema.nullable(),
  packages: z
    .array(claimedKeyPackageSchema)
    .min(1)
    .max(MAX_DEVICES_PER_USER)
    .refine((packages) => new Set(packages.map((p) => p.device)).size === packages.length, 'a device is named twice'),
});

export const groupCreateAnswerSchema = z.object({ epoch: z.literal(0) });
/** `epoch`: the group's epoch after this commit (the one it was made in, plus one); `seq`: its place in the log. */
export const groupCommitAnswerSchema = z.object({ epoch: groupEpochSchema, seq: groupSeqSchema });
export const groupSendAnswerSchema = z.object({ seq: groupSeqSchema });

/** One entry of a group's log, as `group.sync` returns it and `group.message` pushes it (without the queue id). */
export const groupLogEntrySchema = z.object({
  groupId: groupIdSchema,
  seq: groupSeqSchema,
  epoch: groupEpochSchema,
  kind: z.enum(['commit', 'application']),
  message: z.union([groupCommitWireSchema, groupMessageWireSchema]),
  from: groupAddressAnswerSchema,
  sentAt: timestampSchema,
});
/** At most GROUP_SYNC_BATCH entries, oldest first; a full batch means there may be more. */
export const groupSyncAnswerSchema = z.object({ messages: z.array(groupLogEntrySchema).max(GROUP_SYNC_BATCH), epoch: groupEpochSchema });
export const groupInfoAnswerSchema = z.object({ epoch: groupEpochSchema, members: z.array(groupAddressAnswerSchema).min(1).max(MAX_GROUP_MEMBERS) });

export type KeyPackagesUploadResult = z.infer<typeof keyPackagesUploadAnswerSchema>;
export type KeyPackagesCountResult = z.infer<typeof keyPackagesCountAnswerSchema>;
export type ClaimedKeyPackage = z.infer<typeof claimedKeyPackageSchema>;
export type KeyPackagesClaimResult = z.infer<typeof keyPackagesClaimAnswerSchema>;
export type GroupCreateResult = z.infer<typeof groupCreateAnswerSchema>;
export type GroupCommitResult = z.infer<typeof groupCommitAnswerSchema>;
export type GroupSendResult = z.infer<typeof groupSendAnswerSchema>;
export type GroupLogEntry = z.infer<typeof groupLogEntrySchema>;
export type GroupSyncResult = z.infer<typeof groupSyncAnswerSchema>;
export type GroupInfoResult = z.infer<typeof groupInfoAnswerSchema>;

// --- server → client pushes ---------------------------------------------------------------------------

/**
 * `group.message`: a log entry through the device's queue; `id` is the queued copy's server id, settled
 * with `ack` as a `message` is.
 */
export const groupMessageEventSchema = groupLogEntrySchema.extend({ id: serverIdSchema });
/**
 * `group.welcome`: the Welcome of the commit at `seq` that added this device, through its queue (`id`
 * settled with `ack`). The device reads the group's log after `seq` (`group.sync`).
 */
export const groupWelcomeEventSchema = z.object({
  id: serverIdSchema,
  groupId: groupIdSchema,
  seq: groupSeqSchema,
  welcome: groupWelcomeWireSchema,
  from: groupAddressAnswerSchema,
  sentAt: timestampSchema,
});
/** `mls.keypackages.low`: the device has `oneTime` one-time KeyPackages left. */
export const keyPackagesLowEventSchema = z.object({ oneTime: countSchema });

/** `details` of `group_epoch_stale`: the group's current epoch. */
export const groupEpochStaleDetailsSchema = z.object({ epoch: groupEpochSchema });

export type GroupMessageEvent = z.infer<typeof groupMessageEventSchema>;
export type GroupWelcomeEvent = z.infer<typeof groupWelcomeEventSchema>;
export type KeyPackagesLowEvent = z.infer<typeof keyPackagesLowEventSchema>;
export type GroupEpochStaleDetails = z.infer<typeof groupEpochStaleDetailsSchema>;
