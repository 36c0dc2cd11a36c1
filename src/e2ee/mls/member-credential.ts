/**
 * The MLS credential of a group member: a basic credential (RFC 9420 §5.3) whose identity bytes name one
 * device of one user. Which key may sign for that device is not in the credential: it is the device's
 * DSK in its user's signed device list, and device-identity-check.ts holds every leaf to it.
 *
 * identity = 0x01 (format) || L (1 … 32) || username (ASCII, PROTOCOL.md §3) || deviceId (uint32, big-endian)
 *
 * Decoding is strict (exact layout, no trailing bytes), so one member has exactly one credential encoding
 * and two leaves naming the same device carry equal bytes.
 */
import type { Credential } from 'ts-mls';
import type { Bytes } from '../../crypto/bytes.js';
import { MAX_DEVICE_ID, USERNAME_PATTERN } from '../../protocol/limits.js';

export const MEMBER_CREDENTIAL_FORMAT = 0x01;

export interface MemberIdentity {
  readonly username: string;
  readonly deviceId: number;
}

function checkIdentity(identity: MemberIdentity): void {
  if (!USERNAME_PATTERN.test(identity.username)) throw new RangeError('"username" does not match the username pattern');
  if (!Number.isInteger(identity.deviceId) || identity.deviceId < 1 || identity.deviceId > MAX_DEVICE_ID) {
    throw new RangeError(`"deviceId" expected an integer 1 … ${MAX_DEVICE_ID}`);
  }
}

export function encodeMemberIdentity(identity: MemberIdentity): Bytes {
  checkIdentity(identity);
  const name = identity.username;
  const out = new Uint8Array(2 + name.length + 4);
  out[0] = MEMBER_CREDENTIAL_FORMAT;
  out[1] = name.length;
  for (let i = 0; i < name.length; i++) out[2 + i] = name.charCodeAt(i);
  new DataView(out.buffer).setUint32(2 + name.length, identity.deviceId);
  return out;
}

/** The member a credential names, or undefined for anything that is not exactly our basic credential. */
export function decodeMemberCredential(credential: Credential): MemberIdentity | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  const bytes = credential.identity;
  if (bytes.length < 2 + 1 + 4 || bytes[0] !== MEMBER_CREDENTIAL_FORMAT) return undefined;
  const length = bytes[1]!;
  if (bytes.length !== 2 + length + 4) return undefined;
  let username = '';
  for (let i = 0; i < length; i++) username += String.fromCharCode(bytes[2 + i]!);
  if (!USERNAME_PATTERN.test(username)) return undefined;
  const deviceId = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2 + length);
  if (deviceId < 1 || deviceId > MAX_DEVICE_ID) return undefined;
  return { username, deviceId };
}

export function memberCredential(identity: MemberIdentity): Credential {
  return { credentialType: 'basic', identity: encodeMemberIdentity(identity) };
}
