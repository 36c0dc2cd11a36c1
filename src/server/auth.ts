/**
 * Proof of possession: a connection proves it holds a user's Ed25519 key by signing the connection's
 * current challenge (see protocol/auth-message.ts for the exact bytes). The server trusts nothing else a
 * client says about who it is.
 */
import { base64urlDecode, base64urlEncode, randomBytes } from '../crypto/bytes.js';
import { ed25519Verify } from '../crypto/ed25519.js';
import { jwkThumbprint } from '../crypto/keys.js';
import { loginMessage, registerMessage } from '../protocol/auth-message.js';
import { ChatError } from '../protocol/errors.js';
import { CHALLENGE_BYTES } from '../protocol/limits.js';
import type { LoginPayload, RegisterPayload } from '../protocol/schemas.js';
import type { DeviceListInput, ServerStore, UserRecord } from './store/server-store.js';

export function newChallenge(): string {
  return base64urlEncode(randomBytes(CHALLENGE_BYTES));
}

/** False for any malformed input too (e.g. base64url with non-canonical trailing bits): never throws. */
export function verify(signature: string, message: Uint8Array, publicKeyX: string): boolean {
  try {
    return ed25519Verify(base64urlDecode(signature), message, base64urlDecode(publicKeyX));
  } catch {
    return false;
  }
}

/**
 * Registers the name, or logs in if the same keys already hold it. `firstList` (protocol 2) is read
 * once the register signature verified, and stored with the user only when the name is created; its
 * own refusals come before `username_taken`.
 */
export async function authenticateRegistration(
  store: ServerStore,
  challenge: string,
  p: RegisterPayload,
  now: number,
  firstList?: () => DeviceListInput,
): Promise<{ record: UserRecord; created: boolean }> {
  const signingKeyThumbprint = await jwkThumbprint(p.signingKey);
  const encryptionKeyThumbprint = await jwkThumbprint(p.encryptionKey);
  const message = registerMessage({ challenge, username: p.username, signingKeyThumbprint, encryptionKeyThumbprint });
  if (!verify(p.signature, message, p.signingKey.x)) {
    throw new ChatError('bad_signature', 'signature does not verify for this challenge and these keys');
  }
  const result = await store.createUser(
    {
      username: p.username,
      signingKey: { kty: 'OKP', crv: 'Ed25519', x: p.signingKey.x },
      encryptionKey: { kty: 'RSA', n: p.encryptionKey.n, e: p.encryptionKey.e },
      signingKeyThumbprint,
      encryptionKeyThumbprint,
      registeredAt: now,
    },
    firstList?.(),
  );
  if (
    !result.created &&
    (result.record.signingKeyThumbprint !== signingKeyThumbprint || result.record.encryptionKeyThumbprint !== encryptionKeyThumbprint)
  ) {
    throw new ChatError('username_taken', `the name "${p.username}" is registered with other keys`);
  }
  return result;
}

export async function authenticateLogin(store: ServerStore, challenge: string, p: LoginPayload): Promise<UserRecord> {
  const record = await store.getUser(p.username);
  if (!record) throw new ChatError('unknown_user', `no user named "${p.username}"`);
  if (!verify(p.signature, loginMessage({ challenge, username: p.username }), record.signingKey.x)) {
    throw new ChatError('bad_signature', 'signature does not verify for this challenge and user');
  }
  return record;
}
