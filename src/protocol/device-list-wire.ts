/**
 * Device ids and the signed device list as they travel in v2 events (docs/design/devices-v2.md §3.2,
 * §4.2). Only the wire object is checked here: `list` is base64url of a length a list can have, and
 * `signature` an Ed25519 signature. Its bytes (layout, keys, signature, history) are checked by whoever
 * decodes it: the server before it stores a list, every client again before it uses one.
 */
import { z } from 'zod';
import { base64url, signatureSchema } from './schemas.js';
import { MAX_DEVICE_LIST_PAYLOAD_BYTES } from './device-list-payload.js';
import { MAX_DEVICE_ID } from './limits.js';

export { MAX_DEVICE_ID };
export const deviceIdSchema = z.number().int().min(1).max(MAX_DEVICE_ID);

/** A list's `version`: a u32, at least 1, strictly increasing. */
export const deviceListVersionSchema = z.number().int().min(1).max(0xffff_ffff);

/** §4.2: bytes of a list before its entries, beside the username (format, lengths, keys, times, count). */
const LIST_FIXED_BYTES = 52;
/** §4.2: bytes of a device entry beside its name. */
const ENTRY_FIXED_BYTES = 335;
/** The shortest list: a one-letter name and device 1 without a name. */
export const DEVICE_LIST_MIN_BYTES = LIST_FIXED_BYTES + 1 + ENTRY_FIXED_BYTES;
/** The longest list: a 32-character name and six devices with 32-byte names (2,286 bytes). */
export const DEVICE_LIST_MAX_BYTES = MAX_DEVICE_LIST_PAYLOAD_BYTES;

/** Unpadded base64url characters of `bytes` bytes. */
const charsOf = (bytes: number) => Math.ceil((bytes * 4) / 3);

/**
 * `DeviceListWire`: the list's payload (without the signing label) as base64url, and the account key's
 * signature over `label ‖ 0x00 ‖ payload`. A strict object: a member added in transit is refused.
 */
export const deviceListWireSchema = z.strictObject({
  list: base64url(charsOf(DEVICE_LIST_MAX_BYTES))
    .min(charsOf(DEVICE_LIST_MIN_BYTES), `a device list is at least ${DEVICE_LIST_MIN_BYTES} bytes`)
    .refine((list) => list.length % 4 !== 1, 'impossible base64url length'),
  signature: signatureSchema,
});

export type DeviceListWire = z.infer<typeof deviceListWireSchema>;
