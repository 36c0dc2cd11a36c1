/**
 * The exact bytes a client signs to prove it holds its Ed25519 key. Lines joined by "\n", UTF-8, no
 * trailing newline. The first line is a domain-separation label, so a signature made for one purpose
 * (or another protocol) can never be replayed as another. No field can contain "\n" (base64url and
 * the username pattern exclude it), so the encoding is unambiguous.
 */
import { utf8Encode } from '../crypto/bytes.js';
import { MAX_DEVICE_ID } from './device-list-wire.js';

export const REGISTER_LABEL = 'e2ee-chat/v1/register';
export const LOGIN_LABEL = 'e2ee-chat/v1/login';
/** Protocol 2's login (docs/design/devices-v2.md §5.3): signed by the logging-in device's own key. */
export const LOGIN_V2_LABEL = 'e2ee-chat/v2/login';

export function registerMessage(p: {
  challenge: string;
  username: string;
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
}): Uint8Array {
  return utf8Encode([REGISTER_LABEL, p.challenge, p.username, p.signingKeyThumbprint, p.encryptionKeyThumbprint].join('\n'));
}

export function loginMessage(p: { challenge: string; username: string }): Uint8Array {
  return utf8Encode([LOGIN_LABEL, p.challenge, p.username].join('\n'));
}

/**
 * The v2 login text: the label, the challenge, the username and the device id in decimal without leading
 * zeros. The device id is signed, so a signature made for one device id is of no use for another.
 */
export function loginMessageV2(p: { challenge: string; username: string; device: number }): Uint8Array {
  if (!Number.isInteger(p.device) || p.device < 1 || p.device > MAX_DEVICE_ID) throw new RangeError(`"device" expected an integer 1 … ${MAX_DEVICE_ID}`);
  return utf8Encode([LOGIN_V2_LABEL, p.challenge, p.username, String(p.device)].join('\n'));
}
