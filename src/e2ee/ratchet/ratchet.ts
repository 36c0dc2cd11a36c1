/**
 * RatchetEncrypt / RatchetDecrypt of the Double Ratchet spec §3.4 and §3.5, including
 * TrySkippedMessageKeys, SkipMessageKeys and DHRatchet, with the recommended algorithms of §5.2.
 *
 * Decryption runs on a clone of the state and commits only after the message MAC checked out (spec §3.5:
 * "If an exception is raised ... changes to the state object are discarded"). Every failure, whatever its
 * cause (malformed bytes, MAX_SKIP, low-order key, bad MAC, replay), is a DecryptionFailedError with the
 * reason as `cause`, and leaves the state exactly as it was.
 */
import { concatBytes, constantTimeEqual, wipe, type Bytes } from '../../crypto/bytes.js';
import type { RandomSource } from '../../crypto/random.js';
import { X25519KeyPair, X25519PublicKey } from '../../crypto/x25519.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { kdfChainKey } from './chain-key.js';
import { MAX_COUNTER, MAX_SKIP, MAX_STORED_SKIPPED_KEYS } from './constants.js';
import { encodeHeader, frameMessage, parseMessage, type RatchetHeader } from './header.js';
import { decryptWithMessageKey, encryptWithMessageKey } from './message-cipher.js';
import { kdfRootKey } from './root-key.js';
import { ratchetFields, skippedKeyId, type RatchetFields, type RatchetState } from './state.js';

export interface RatchetOptions {
  /** Source for new ratchet key pairs (GENERATE_DH); defaults to the platform CSPRNG. */
  readonly random?: RandomSource;
}

/** RatchetEncrypt (spec §3.4): CKs, mk = KDF_CK(CKs); header = HEADER(DHs, PN, Ns); Ns += 1. */
export function ratchetEncrypt(state: RatchetState, plaintext: Uint8Array): Bytes {
  const f = ratchetFields(state);
  if (f.cks === undefined) throw new ChatError('bad_request', 'this session cannot send before it has received a message');
  if (f.ns >= MAX_COUNTER) throw new ChatError('bad_request', 'sending chain exhausted; start a new session');
  const { chainKey, messageKey } = kdfChainKey(f.cks);
  const headerBytes = encodeHeader({ dh: f.dhs.publicKey, pn: f.pn, n: f.ns });
  f.cks = chainKey;
  f.ns += 1;
  const body = encryptWithMessageKey(messageKey, plaintext, concatBytes(f.ad, headerBytes));
  wipe(messageKey);
  return frameMessage(headerBytes, body);
}

class SkipLimitError extends Error {
  constructor() {
    super(`header asks to skip more than MAX_SKIP (${MAX_SKIP}) message keys`);
    this.name = 'SkipLimitError';
  }
}

class ReplayError extends Error {
  constructor() {
    super('message key already used or deleted (replay, or too old)');
    this.name = 'ReplayError';
  }
}

function storeSkipped(f: RatchetFields, dh: Bytes, n: number, messageKey: Bytes): void {
  f.skipped.set(skippedKeyId(dh, n), { dh, n, messageKey });
  // Cap across all chains (constants.ts): drop the oldest first; Map iteration is insertion order.
  while (f.skipped.size > MAX_STORED_SKIPPED_KEYS) f.skipped.delete(f.skipped.keys().next().value!);
}

/** SkipMessageKeys (spec §3.5). */
function skipMessageKeys(f: RatchetFields, until: number): void {
  if (f.nr + MAX_SKIP < until) throw new SkipLimitError();
  if (f.ckr === undefined || f.dhr === undefined) return;
  while (f.nr < until) {
    const { chainKey, messageKey } = kdfChainKey(f.ckr);
    f.ckr = chainKey;
    storeSkipped(f, f.dhr, f.nr, messageKey);
    f.nr += 1;
  }
}

/** DHRatchet (spec §3.5). */
async function dhRatchet(f: RatchetFields, header: RatchetHeader, options: RatchetOptions): Promise<void> {
  f.pn = f.ns;
  f.ns = 0;
  f.nr = 0;
  f.dhr = header.dh;
  const remote = new X25519PublicKey(header.dh);
  // The next key pair does not depend on the first DH: generate it meanwhile (WebCrypto runs both off-thread).
  const [received, next] = await Promise.all([f.dhs.agree(remote), X25519KeyPair.generate(options.random)]);
  const receiving = kdfRootKey(f.rk, received);
  f.rk = receiving.rootKey;
  f.ckr = receiving.chainKey;
  f.dhs = next;
  const sending = kdfRootKey(f.rk, await f.dhs.agree(remote));
  f.rk = sending.rootKey;
  f.cks = sending.chainKey;
}

async function decryptOnCopy(f: RatchetFields, message: Uint8Array, options: RatchetOptions): Promise<{ plaintext: Bytes; usedKey: Bytes }> {
  const { header, headerBytes, body } = parseMessage(message);
  const associatedData = concatBytes(f.ad, headerBytes);
  // TrySkippedMessageKeys
  const id = skippedKeyId(header.dh, header.n);
  const skipped = f.skipped.get(id);
  if (skipped) {
    f.skipped.delete(id);
    return { plaintext: decryptWithMessageKey(skipped.messageKey, body, associatedData), usedKey: skipped.messageKey };
  }
  const sameChain = f.dhr !== undefined && constantTimeEqual(header.dh, f.dhr);
  if (sameChain && header.n < f.nr) throw new ReplayError();
  if (!sameChain) {
    skipMessageKeys(f, header.pn);
    await dhRatchet(f, header, options);
  }
  skipMessageKeys(f, header.n);
  if (f.ckr === undefined) throw new ReplayError(); // only a forged header can name our peer's old SPK chain
  const { chainKey, messageKey } = kdfChainKey(f.ckr);
  f.ckr = chainKey;
  f.nr += 1;
  return { plaintext: decryptWithMessageKey(messageKey, body, associatedData), usedKey: messageKey };
}

/**
 * RatchetDecrypt (spec §3.5). On success the state advances and the plaintext is returned; on any
 * failure a DecryptionFailedError is thrown and the state is unchanged.
 */
export async function ratchetDecrypt(state: RatchetState, message: Uint8Array, options: RatchetOptions = {}): Promise<Bytes> {
  const working = state.clone();
  const f = ratchetFields(working);
  let result: { plaintext: Bytes; usedKey: Bytes };
  try {
    result = await decryptOnCopy(f, message, options);
  } catch (cause) {
    throw new DecryptionFailedError({ cause });
  }
  f.pendingPreKey = undefined; // a message from the peer proves it has the session (libsignal does the same)
  state.commit(working);
  wipe(result.usedKey);
  return result.plaintext;
}
