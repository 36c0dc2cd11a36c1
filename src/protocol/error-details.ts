/**
 * The `details` member protocol 2 adds to a refusal's error object (docs/design/devices-v2.md §5.5.4,
 * §9.4), for the codes whose answer a client acts on: `devices_changed` names, per user, the devices the
 * request missed and the ones it named in vain, with each user's current signed list, so the client can
 * reseal without a second round trip; the quota codes name the device whose queue is full.
 *
 * Checked here: the structure. Whether `missing` and `stale` agree with the list beside them is the
 * client's check once it has verified the list (`bad_response` otherwise).
 */
import { z } from 'zod';
import { deviceIdSchema, deviceListWireSchema } from './device-list-wire.js';
import type { DevicesChangedDetails, QuotaDetails } from './events-v2.js';
import { MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND } from './limits.js';
import { usernameSchema } from './schemas.js';
import { MAX_USERS_PER_SEND } from './v2-schemas.js';

/** Device ids, each at most once. */
const distinctDeviceIds = (max: number) =>
  z
    .array(deviceIdSchema)
    .max(max)
    .refine((ids) => new Set(ids).size === ids.length, 'a device is named twice');

export const deviceSetChangeSchema = z
  .object({
    username: usernameSchema,
    // Missing devices are devices of the list; stale ones were named by the request.
    missing: distinctDeviceIds(MAX_DEVICES_PER_USER),
    stale: distinctDeviceIds(MAX_ENVELOPES_PER_SEND),
    deviceList: deviceListWireSchema.nullable(),
  })
  .refine((change) => !change.missing.some((device) => change.stale.includes(device)), 'a device cannot be both missing and stale');

export const devicesChangedDetailsSchema = z.object({
  users: z
    .array(deviceSetChangeSchema)
    .min(1)
    .max(MAX_USERS_PER_SEND)
    .refine((users) => new Set(users.map((u) => u.username)).size === users.length, 'a user is named twice')
    .refine((users) => users.some((u) => u.missing.length + u.stale.length > 0), 'names no missing or stale device'),
}) satisfies z.ZodType<DevicesChangedDetails>;

export const quotaDetailsSchema = z.object({ to: usernameSchema, device: deviceIdSchema }) satisfies z.ZodType<QuotaDetails>;
