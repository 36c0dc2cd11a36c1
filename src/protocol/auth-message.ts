/**
 * The exact bytes a client signs to prove it holds its Ed25519 key. Lines joined by "\n", UTF-8, no
 * trailing newline. The first line is a domain-separation label, so a signature made for one purpose
 * (or another protocol) can never be replayed as another. No field can contain "\n" (base64url and
 * the username pattern exclude it), so the encoding is unambiguous.
 */
import { utf8Encode } from '../crypto/bytes.js';

export const REGISTER_LABEL = 'e2ee-chat/v1/register';
export const LOGIN_LABEL = 'e2ee-chat/v1/login';

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
