/**
 * Payload schemas of the client events protocol 2 adds or changes (docs/design/devices-v2.md §5): v2
 * `register`, `login`, `send` and `prekeys.bundle`, and `devices.list` and `devices.publish`. Every one is
 * a strict object: a member the server does not know is refused, not dropped. The v1 schemas beside them
 * (schemas.ts, prekey-schemas.ts) stay as they are: v1 connections keep using them (§5.9).
 *
 * What a schema can check is the structure of one payload. Rules that need the connection or the store
 * (the device-set rule, "never the sending device itself", what a list adds) are the server's.
 */
import { z } from 'zod';
import { deviceIdSchema, deviceListWireSchema } from './device-list-wire.js';
import { MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND } from './limits.js';
import { identityKeyWireSchema, kemPreKeyWireSchema, signedPreKeyWireSchema } from './prekey-schemas.js';
import { clientMessageIdSchema, ed25519PublicJwkSchema, envelopeSchema, rsa2048PublicJwkSchema, signatureSchema, usernameSchema } from './schemas.js';

/** The `protocol` member that makes a `register` or `login` a v2 one (§5.1). */
export const protocolV2Schema = z.literal(2);

/**
 * v2 `register` (§5.2): v1's members, `protocol: 2` and the user's first device list (version 1, device 1
 * alone). Signed as v1's register: device 1's keys are the account keys. The JWKs keep v1's rule (other
 * JWK members are dropped, PROTOCOL.md §4).
 */
export const registerV2PayloadSchema = z.strictObject({
  username: usernameSchema,
  signingKey: ed25519PublicJwkSchema,
  encryptionKey: rsa2048PublicJwkSchema,
  signature: signatureSchema,
  protocol: protocolV2Schema,
  deviceList: deviceListWireSchema,
});

/** v2 `login` (§5.3): the device logging in, signed by that device's key over loginMessageV2. */
export const loginV2PayloadSchema = z.strictObject({
  username: usernameSchema,
  device: deviceIdSchema,
  protocol: protocolV2Schema,
  signature: signatureSchema,
});

/** `devices.list` (§5.4): a user's current signed list. */
export const devicesListPayloadSchema = z.strictObject({ username: usernameSchema });

/**
 * The device a published list adds, with its first prekeys (§5.7, §6.7), so that a bundle exists for it
 * from the moment the list names it. Device 1 is never added: it is in every list from the first.
 */
export const addedDeviceSchema = z.strictObject({
  device: deviceIdSchema.min(2, 'device 1 is the primary and is never added'),
  identity: identityKeyWireSchema,
  signedPreKey: signedPreKeyWireSchema,
  lastResortKemPreKey: kemPreKeyWireSchema,
});

/** `devices.publish` (§5.7): a new version of the caller's list; `added` exactly when it adds a device. */
export const devicesPublishPayloadSchema = z.strictObject({
  deviceList: deviceListWireSchema,
  added: addedDeviceSchema.optional(),
});

/** One envelope of a v2 `send`, for one address. The envelope is v1's, checked as there. */
export const addressedEnvelopeSchema = z.strictObject({
  to: usernameSchema,
  device: deviceIdSchema,
  envelope: envelopeSchema,
});

/** Most distinct users one v2 `send` names: its recipient and the sender's own other devices. */
export const MAX_USERS_PER_SEND = 2;

/**
 * v2 `send` (§5.5): one message as one envelope per device. `id` is required: it is the idempotency key
 * of every copy. Structure checked here: 1 … MAX_ENVELOPES_PER_SEND entries, at most two distinct `to`,
 * no address twice.
 */
export const sendV2PayloadSchema = z
  .strictObject({
    id: clientMessageIdSchema,
    messages: z.array(addressedEnvelopeSchema).min(1).max(MAX_ENVELOPES_PER_SEND),
  })
  .superRefine((payload, ctx) => {
    const users = new Set<string>();
    const addresses = new Set<string>();
    payload.messages.forEach(({ to, device }, i) => {
      users.add(to);
      if (users.size > MAX_USERS_PER_SEND) {
        ctx.addIssue({ code: 'custom', path: ['messages', i, 'to'], message: 'a send names at most two users: its recipient and the sender' });
      }
      const address = `${to}/${device}`;
      if (addresses.has(address)) ctx.addIssue({ code: 'custom', path: ['messages', i, 'device'], message: `${address} is named twice` });
      addresses.add(address);
    });
  });

/** v2 `prekeys.bundle` (§5.10): bundles of the named devices of one user, in the order asked. */
export const preKeysBundleV2PayloadSchema = z
  .strictObject({
    username: usernameSchema,
    devices: z.array(deviceIdSchema).min(1).max(MAX_DEVICES_PER_USER),
  })
  .superRefine((payload, ctx) => {
    payload.devices.forEach((device, i) => {
      if (payload.devices.indexOf(device) !== i) ctx.addIssue({ code: 'custom', path: ['devices', i], message: `device ${device} is named twice` });
    });
  });

export type RegisterV2Payload = z.infer<typeof registerV2PayloadSchema>;
export type LoginV2Payload = z.infer<typeof loginV2PayloadSchema>;
export type DevicesListPayload = z.infer<typeof devicesListPayloadSchema>;
export type AddedDevice = z.infer<typeof addedDeviceSchema>;
export type DevicesPublishPayload = z.infer<typeof devicesPublishPayloadSchema>;
export type AddressedEnvelope = z.infer<typeof addressedEnvelopeSchema>;
export type SendV2Payload = z.infer<typeof sendV2PayloadSchema>;
export type PreKeysBundleV2Payload = z.infer<typeof preKeysBundleV2PayloadSchema>;
