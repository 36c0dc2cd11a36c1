/**
 * Glue between PQXDH and the Double Ratchet (Double Ratchet spec §5.1 "Integration with X3DH", which
 * PQXDH §3.3 inherits): SK becomes the first root key, AD becomes the ratchet's AD, Bob's signed prekey
 * SPK_B becomes his first ratchet key pair, and the first ratchet message is PQXDH's "initial ciphertext".
 *
 * Until Alice receives a reply, every message she sends carries the PQXDH fields (libsignal does the
 * same), so Bob can set up the session from whichever of her first messages arrives first; Bob recognises
 * the repeats by EK_A (`baseKey`) and uses the state he already has.
 *
 * Bob deletes the used one-time prekeys only after the initial ciphertext decrypted (PQXDH §3.4), so a
 * forged initial message cannot burn them.
 */
import { concatBytes, constantTimeEqual, type Bytes } from '../../crypto/bytes.js';
import type { RandomSource } from '../../crypto/random.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import type { PreKeyBundle } from '../pqxdh/bundle.js';
import { INITIAL_MESSAGE_VERSION } from '../pqxdh/constants.js';
import { LocalIdentity, type PublicIdentity } from '../pqxdh/identity.js';
import { decodeInitialMessage, encodeInitialMessage } from '../pqxdh/initial-message.js';
import { pqxdhInitiate } from '../pqxdh/initiate.js';
import { pqxdhRespond } from '../pqxdh/respond.js';
import type { IdentityStore, LastResortUse, PreKeyStore } from '../pqxdh/stores.js';
import { ratchetDecrypt, ratchetEncrypt } from './ratchet.js';
import type { SessionRecord } from './session-record.js';
import { initAlice, initBob, ratchetFields } from './state.js';

export interface InitiateOptions {
  readonly random?: RandomSource;
  /** The peer's Ed25519 key from the directory or the pinned one; a bundle for another key is refused. */
  readonly expectedRemoteSigningKey?: Uint8Array;
}

/** Alice: verifies Bob's bundle, runs PQXDH and makes the new ratchet state current in `record`. */
export async function initiateSession(record: SessionRecord, bundle: PreKeyBundle, identity: LocalIdentity, options: InitiateOptions = {}): Promise<{ remoteIdentity: PublicIdentity }> {
  if (options.expectedRemoteSigningKey && !constantTimeEqual(options.expectedRemoteSigningKey, bundle.identity.signingKey)) {
    throw new ChatError('peer_key_changed', 'the prekey bundle belongs to a different identity key');
  }
  const init = await pqxdhInitiate(bundle, identity, options);
  const pending = encodeInitialMessage(init.message, new Uint8Array(0));
  const state = await initAlice(init.sharedKey, init.associatedData, init.remoteRatchetKey, init.message.ephemeralKey, pending, options.random);
  record.promote(state);
  return { remoteIdentity: init.remoteIdentity };
}

/** Encrypts with the current state; while no reply has arrived the PQXDH fields are prepended. */
export function encryptMessage(record: SessionRecord, plaintext: Uint8Array): Bytes {
  const state = record.current;
  if (!state) throw new ChatError('bad_request', 'no session with this peer');
  const message = ratchetEncrypt(state, plaintext);
  const pending = ratchetFields(state).pendingPreKey;
  return pending ? concatBytes(pending, message) : message;
}

export interface DecryptContext {
  /** Read only for an initial message that starts a new session: a store lets a caller load it lazily. */
  readonly identity: LocalIdentity | IdentityStore;
  readonly preKeys: PreKeyStore;
  readonly random?: RandomSource;
  /** When set, an initial message from any other Ed25519 identity is refused. */
  readonly expectedRemoteSigningKey?: Uint8Array;
}

export interface DecryptResult {
  readonly plaintext: Bytes;
  /** Set when this message created a new session: the initiator's identity, binding verified. */
  readonly newSession?: {
    readonly remoteIdentity: PublicIdentity;
    /** One-time prekeys used (already removed from the given store; a persistent caller removes them too). */
    readonly consumed: { oneTimePreKeyId?: number; kemPreKeyId?: number };
    /** A last-resort use (already recorded in the given store; a persistent caller records it too). */
    readonly lastResortUse?: LastResortUse;
  };
}

export async function decryptMessage(record: SessionRecord, message: Uint8Array, context: DecryptContext): Promise<DecryptResult> {
  if (message[0] !== INITIAL_MESSAGE_VERSION) return { plaintext: await record.decrypt(message, context) };

  let decoded: ReturnType<typeof decodeInitialMessage>;
  try {
    decoded = decodeInitialMessage(message);
    if (context.expectedRemoteSigningKey && !constantTimeEqual(context.expectedRemoteSigningKey, decoded.message.identity.signingKey)) {
      throw new ChatError('peer_key_changed', 'initial message from a different identity key');
    }
  } catch (cause) {
    throw new DecryptionFailedError({ cause });
  }
  const existing = record.findByBaseKey(decoded.message.ephemeralKey);
  if (existing) {
    const plaintext = await ratchetDecrypt(existing, decoded.ratchetMessage, context);
    record.promote(existing);
    return { plaintext };
  }
  const identity = context.identity instanceof LocalIdentity ? context.identity : await context.identity.getLocalIdentity();
  const response = await pqxdhRespond(decoded.message, identity, context.preKeys);
  const state = initBob(response.sharedKey, response.associatedData, response.signedPreKey.keyPair, decoded.message.ephemeralKey);
  const plaintext = await ratchetDecrypt(state, decoded.ratchetMessage, context);
  if (response.consumed.oneTimePreKeyId !== undefined) await context.preKeys.removeOneTimePreKey(response.consumed.oneTimePreKeyId);
  if (response.consumed.kemPreKeyId !== undefined) await context.preKeys.removeKemPreKey(response.consumed.kemPreKeyId);
  if (response.lastResortUse) await context.preKeys.recordLastResortUse(response.lastResortUse);
  record.promote(state);
  return {
    plaintext,
    newSession: { remoteIdentity: response.remoteIdentity, consumed: response.consumed, ...(response.lastResortUse && { lastResortUse: response.lastResortUse }) },
  };
}
