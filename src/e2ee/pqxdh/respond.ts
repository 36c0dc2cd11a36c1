/**
 * PQXDH for the responder, Bob (spec §3.4 "Receiving the initial message"): load the prekeys named by
 * the message, verify A's identity binding, repeat the DHs and PQKEM-DEC, and derive SK and AD.
 *
 * Nothing is deleted here: the result names the one-time prekeys used (`consumed`) and the caller deletes
 * them once the initial ciphertext has decrypted (session-builder.ts), so a forged initial message cannot
 * burn Bob's one-time prekeys. Likewise a message under the last-resort ML-KEM key is refused if its use
 * was recorded before (a replay), and the caller records it once the ciphertext decrypted.
 * Every failure is a DecryptionFailedError with the reason as its cause.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { X25519PublicKey } from '../../crypto/x25519.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { verifyIdentityBinding, type LocalIdentity, type PublicIdentity } from './identity.js';
import type { PqxdhInitialMessage } from './initial-message.js';
import { pqxdhAssociatedData, pqxdhKdf } from './kdf.js';
import type { SignedPreKeyRecord } from './prekeys.js';
import type { LastResortUse, PreKeyStore } from './stores.js';

export interface PqxdhResponse {
  readonly sharedKey: Bytes;
  readonly associatedData: Bytes;
  /** IDS_A / IK_A with a verified binding; the caller must still check IDS_A against the directory or pin. */
  readonly remoteIdentity: PublicIdentity;
  /** SPK_B: Bob's initial ratchet key pair (Double Ratchet spec §3.3, RatchetInitBob). */
  readonly signedPreKey: SignedPreKeyRecord;
  /** One-time prekeys to delete after the initial ciphertext decrypts (spec §3.4). */
  readonly consumed: { readonly oneTimePreKeyId?: number; readonly kemPreKeyId?: number };
  /** Set when the last-resort ML-KEM key was used: to record once the initial ciphertext decrypts. */
  readonly lastResortUse?: LastResortUse;
}

export async function pqxdhRespond(message: PqxdhInitialMessage, identity: LocalIdentity, store: PreKeyStore): Promise<PqxdhResponse> {
  try {
    const signedPreKey = await store.getSignedPreKey(message.signedPreKeyId);
    if (!signedPreKey) throw new ChatError('bad_request', 'unknown signed prekey id');
    const kemPreKey = await store.getKemPreKey(message.kemPreKeyId);
    if (!kemPreKey) throw new ChatError('bad_request', 'unknown KEM prekey id');
    const oneTime = message.oneTimePreKeyId === undefined ? undefined : await store.getOneTimePreKey(message.oneTimePreKeyId);
    if (message.oneTimePreKeyId !== undefined && !oneTime) throw new ChatError('bad_request', 'unknown or already used one-time prekey id');
    const lastResortUse: LastResortUse | undefined =
      kemPreKey.kind === 'last-resort' ? { kemPreKeyId: kemPreKey.id, signedPreKeyId: signedPreKey.id, baseKey: message.ephemeralKey } : undefined;
    if (lastResortUse && (await store.isLastResortUseRecorded(lastResortUse))) {
      throw new ChatError('bad_request', 'initial message replayed: this base key was already accepted under these last-resort prekeys');
    }

    const ek = new X25519PublicKey(message.ephemeralKey);
    // WebCrypto computes the DHs off-thread while the binding signature is verified here.
    const pending = Promise.all([
      signedPreKey.keyPair.agree(message.identity.dhKey), // DH1 = DH(IK_A, SPK_B)
      identity.dhKeyPair.agree(ek), // DH2 = DH(EK_A, IK_B)
      signedPreKey.keyPair.agree(ek), // DH3 = DH(EK_A, SPK_B)
      ...(oneTime ? [oneTime.keyPair.agree(ek)] : []), // DH4 = DH(EK_A, OPK_B)
    ]);
    pending.catch(() => undefined); // awaited below
    if (!verifyIdentityBinding(message.identity)) throw new ChatError('bad_signature', "initiator's identity binding does not verify");
    const ss = kemPreKey.decapsulate(message.kemCiphertext); // SS = PQKEM-DEC(PQPK_B, CT)
    const dh = await pending.catch((error: unknown) => {
      ss.fill(0);
      throw error;
    });
    return {
      sharedKey: pqxdhKdf(dh, ss),
      associatedData: pqxdhAssociatedData(message.identity, identity.publicIdentity()),
      remoteIdentity: message.identity,
      signedPreKey,
      consumed: {
        ...(oneTime ? { oneTimePreKeyId: oneTime.id } : {}),
        ...(kemPreKey.kind === 'one-time' ? { kemPreKeyId: kemPreKey.id } : {}),
      },
      ...(lastResortUse && { lastResortUse }),
    };
  } catch (cause) {
    throw new DecryptionFailedError({ cause });
  }
}
