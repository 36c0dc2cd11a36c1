/**
 * PQXDH for the initiator, Alice (spec §3.3). Verifies the bundle (aborting on any bad signature; the DHs
 * are computed off-thread meanwhile and discarded on failure), then
 *   EK_A = GENERATE_DH();  (CT, SS) = PQKEM-ENC(PQPK_B)
 *   DH1 = DH(IK_A, SPK_B); DH2 = DH(EK_A, IK_B); DH3 = DH(EK_A, SPK_B); DH4 = DH(EK_A, OPK_B) if present
 *   SK = KDF(DH1 || DH2 || DH3 [|| DH4] || SS)
 * The ephemeral secret, the DH outputs and SS are wiped (spec: "Alice deletes her ephemeral private
 * key and the DH outputs"). The caller encrypts the first message with SK and AD (session-builder.ts).
 */
import type { Bytes } from '../../crypto/bytes.js';
import { mlkem1024Encapsulate } from '../../crypto/mlkem.js';
import type { RandomSource } from '../../crypto/random.js';
import { X25519KeyPair, X25519PublicKey } from '../../crypto/x25519.js';
import { ChatError } from '../../protocol/errors.js';
import { checkPreKeyBundleShape, verifyPreKeyBundle, type PreKeyBundle } from './bundle.js';
import type { LocalIdentity, PublicIdentity } from './identity.js';
import type { PqxdhInitialMessage } from './initial-message.js';
import { pqxdhAssociatedData, pqxdhKdf } from './kdf.js';

export interface PqxdhInitiation {
  /** SK, 32 bytes: the Double Ratchet's initial root key. */
  readonly sharedKey: Bytes;
  /** AD, PQXDH_AD_LENGTH bytes. */
  readonly associatedData: Bytes;
  /** The PQXDH fields of the initial message. */
  readonly message: PqxdhInitialMessage;
  readonly remoteIdentity: PublicIdentity;
  /** SPK_B: Bob's initial ratchet public key (Double Ratchet spec §3.3, RatchetInitAlice). */
  readonly remoteRatchetKey: Bytes;
}

export async function pqxdhInitiate(bundle: PreKeyBundle, identity: LocalIdentity, options: { random?: RandomSource } = {}): Promise<PqxdhInitiation> {
  // Size checks first; the signature checks below run while WebCrypto computes the DHs off-thread. No
  // result leaves this function unless every signature verified (spec §3.3 "aborts the protocol").
  checkPreKeyBundleShape(bundle);
  const spk = new X25519PublicKey(bundle.signedPreKey.publicKey);
  const ephemeral = await X25519KeyPair.generate(options.random);
  const pending = Promise.all([
    identity.dhKeyPair.agree(spk), // DH1 = DH(IK_A, SPK_B)
    ephemeral.agree(bundle.identity.dhKey), // DH2 = DH(EK_A, IK_B)
    ephemeral.agree(spk), // DH3 = DH(EK_A, SPK_B)
    ...(bundle.oneTimePreKey ? [ephemeral.agree(bundle.oneTimePreKey.publicKey)] : []), // DH4 = DH(EK_A, OPK_B)
  ]);
  pending.catch(() => undefined); // awaited below; avoids an unhandled rejection if verification throws first
  try {
    verifyPreKeyBundle(bundle);
  } catch (error) {
    void pending.finally(() => ephemeral.destroy()).catch(() => undefined);
    throw error;
  }
  let kem: { ciphertext: Bytes; sharedSecret: Bytes };
  try {
    kem = mlkem1024Encapsulate(bundle.kemPreKey.publicKey, options.random);
  } catch (cause) {
    void pending.finally(() => ephemeral.destroy()).catch(() => undefined);
    throw new ChatError('bad_request', 'prekey bundle rejected: KEM prekey is not a valid ML-KEM-1024 key', { cause });
  }
  let dh: Bytes[];
  try {
    dh = await pending;
  } catch (cause) {
    kem.sharedSecret.fill(0);
    throw new ChatError('bad_request', 'prekey bundle rejected: a curve key is of low order', { cause });
  } finally {
    ephemeral.destroy(); // spec §3.3: "Alice deletes her ephemeral private key"
  }
  const sharedKey = pqxdhKdf(dh, kem.sharedSecret);
  const local = identity.publicIdentity();
  return {
    sharedKey,
    associatedData: pqxdhAssociatedData(local, bundle.identity),
    message: {
      identity: local,
      ephemeralKey: ephemeral.publicKey,
      signedPreKeyId: bundle.signedPreKey.id,
      ...(bundle.oneTimePreKey ? { oneTimePreKeyId: bundle.oneTimePreKey.id } : {}),
      kemPreKeyId: bundle.kemPreKey.id,
      kemCiphertext: kem.ciphertext,
    },
    remoteIdentity: bundle.identity,
    remoteRatchetKey: bundle.signedPreKey.publicKey,
  };
}
