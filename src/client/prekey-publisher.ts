/**
 * Keeps this user's prekeys published (docs/PROTOCOL.md §14), run after every login: uploads the
 * identity, signed prekey and last-resort key when the server lacks them, rotates the signed prekey after
 * SIGNED_PREKEY_ROTATION_MS (keeping replaced ones for SIGNED_PREKEY_GRACE_MS, for initial messages still
 * in flight), and refills one-time keys when fewer than PREKEY_REFILL_THRESHOLD remain. New keys are saved
 * locally before they are uploaded: a key the server hands out must always have its secret here.
 *
 * Runs after every login, after an initial message used up one-time keys, and when the server pushes
 * `prekeys.low` (chat-client.ts). Each run also deletes local one-time keys the server handed out that no
 * one used within the grace period, and caps the local stock (local-prekeys.ts).
 */
import { base64urlDecode, base64urlEncode as e } from '../crypto/bytes.js';
import type { PreKeyBundle } from '../e2ee/pqxdh/bundle.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey, type KemPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { PREKEY_UPLOAD_KEM_CHUNK } from '../protocol/limits.js';
import type { PreKeyBundleWire, PreKeyCountResult, PreKeysUploadPayload } from '../protocol/prekey-schemas.js';
import { updateLocalKeys, type LocalKeys } from './local-prekeys.js';
import type { RatchetStore } from './ratchet-store.js';
import type { ServerConnection } from './server-connection.js';

/** Signal's rotation period for signed prekeys: bounds how long one SPK serves new sessions. */
export const SIGNED_PREKEY_ROTATION_MS = 7 * 24 * 60 * 60 * 1000;
/** Replaced signed prekeys are kept this long: initial messages queued for a month still open. */
export const SIGNED_PREKEY_GRACE_MS = 30 * 24 * 60 * 60 * 1000;
/**
 * The refill rule (issue 15, point 15): each kind of one-time key (X25519, ML-KEM) is refilled on its
 * own, when the server holds fewer than this many of THAT kind, up to THAT kind's target; the other kind
 * is left as it is, even when it is below its own target. Why independent: the two stocks have different
 * targets and run out at different times; refilling both whenever one runs low would upload keys no one
 * needs yet (ML-KEM ones at ~2.2 KB each) and push the server toward its cap (MAX_STORED_ONE_TIME_PREKEYS).
 */
export const PREKEY_REFILL_THRESHOLD = 20;
/** One-time X25519 keys to hold on the server after a refill (~5 KB of upload). */
export const ONE_TIME_PREKEY_TARGET = 100;
/** One-time ML-KEM keys to hold after a refill: ~2.2 KB each on the wire and ~6 KB each stored locally. */
export const KEM_ONE_TIME_PREKEY_TARGET = 40;

const wireKem = (k: KemPreKeyRecord) => ({ id: k.id, publicKey: e(k.publicKey), signature: e(k.signature) });

function identityWire(keys: LocalKeys): PreKeysUploadPayload['identity'] {
  return { dhKey: e(keys.identity.dhKeyPair.publicKey), binding: e(keys.identity.binding) };
}

export class PreKeyPublisher {
  constructor(
    private readonly store: RatchetStore,
    private readonly signingSecretKey: Uint8Array,
    private readonly connection: Pick<ServerConnection, 'call'>,
    /** The keys lock shared with SessionManager: refills and prekey consumption never overwrite each other. */
    private readonly withKeysLocked: <T>(work: () => Promise<T>) => Promise<T>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A run requested but not yet started (waiting for the keys lock). */
  #waiting: Promise<PreKeyCountResult> | undefined;

  /**
   * Brings the server's stock and the local keys up to date. A request made while another still waits to
   * start joins it: a flood of `prekeys.low` pushes (a hostile server's, say) costs one run, not one each.
   */
  maintain(): Promise<PreKeyCountResult> {
    if (this.#waiting) return this.#waiting;
    let started = false;
    const run = this.withKeysLocked(() => {
      started = true;
      this.#waiting = undefined;
      return this.refresh();
    });
    if (!started) this.#waiting = run; // a lock may run the work at once: then nothing is waiting
    return run;
  }

  private async refresh(): Promise<PreKeyCountResult> {
    const now = this.clock();
    let counts = await this.connection.call('prekeys.count', {});
    // Generated and saved as one read-modify-write: another process of this user refilling at the same
    // time makes this one start over on its keys instead of overwriting them (local-prekeys.ts).
    const { keys, oneTime, kem } = await updateLocalKeys(this.store, this.signingSecretKey, now, async (keys) => {
      // Before new keys exist: keys not yet uploaded are missing from the server's lists.
      let changed = keys.reconcileOneTimeKeys(counts, now);
      if (now - keys.currentSignedPreKey.createdAt > SIGNED_PREKEY_ROTATION_MS) {
        const id = keys.nextIds.signed++;
        keys.signed.set(id, await generateSignedPreKey(keys.identity, id, { clock: () => now }));
        keys.currentSignedId = id;
        changed = true;
      }
      for (const s of keys.signed.values()) {
        if (s.id !== keys.currentSignedId && now - s.createdAt > SIGNED_PREKEY_ROTATION_MS + SIGNED_PREKEY_GRACE_MS) {
          keys.signed.delete(s.id);
          changed = true;
        }
      }
      // After a new identity (or on first use) the server holds none of our one-time keys.
      // Otherwise each kind on its own (PREKEY_REFILL_THRESHOLD): one kind running out never refills the other.
      const published = counts.identityKey === identityWire(keys).dhKey;
      const refill = (have: number, target: number) => (!published ? target : have < PREKEY_REFILL_THRESHOLD ? target - have : 0);
      const wantOneTime = refill(counts.oneTime, ONE_TIME_PREKEY_TARGET);
      const wantKem = refill(counts.kemOneTime, KEM_ONE_TIME_PREKEY_TARGET);
      const oneTime = await generateOneTimePreKeys(keys.nextIds.oneTime, wantOneTime);
      keys.nextIds.oneTime += wantOneTime;
      for (const k of oneTime) keys.oneTime.set(k.id, k);
      const kem: KemPreKeyRecord[] = [];
      for (let i = 0; i < wantKem; i++) kem.push(generateKemPreKey(keys.identity, keys.nextIds.kem++, 'one-time', { clock: () => now }));
      for (const k of kem) keys.kem.set(k.id, k);
      if (keys.capOneTimeKeys()) changed = true; // new keys have the highest ids: the cap never takes them
      return { save: changed || wantOneTime > 0 || wantKem > 0, result: { keys, oneTime, kem } };
    });
    const identity = identityWire(keys);

    const longLivedStale =
      counts.identityKey !== identity.dhKey || counts.signedPreKeyId !== keys.currentSignedId || counts.lastResortKemPreKeyId !== keys.lastResortId;
    const chunks = Math.max(longLivedStale || oneTime.length > 0 ? 1 : 0, Math.ceil(kem.length / PREKEY_UPLOAD_KEM_CHUNK));
    for (let c = 0; c < chunks; c++) {
      const payload: PreKeysUploadPayload = {
        identity,
        ...(c === 0 && longLivedStale && {
          signedPreKey: { id: keys.currentSignedId, publicKey: e(keys.currentSignedPreKey.keyPair.publicKey), signature: e(keys.currentSignedPreKey.signature) },
          lastResortKemPreKey: wireKem(keys.lastResortKemPreKey),
        }),
        ...(c === 0 && oneTime.length > 0 && { oneTimePreKeys: oneTime.map((k) => ({ id: k.id, publicKey: e(k.keyPair.publicKey) })) }),
        kemPreKeys: kem.slice(c * PREKEY_UPLOAD_KEM_CHUNK, (c + 1) * PREKEY_UPLOAD_KEM_CHUNK).map(wireKem),
      };
      counts = await this.connection.call('prekeys.upload', payload);
    }
    return counts;
  }
}

/** A `prekeys.bundle` ack as the bytes PQXDH verifies (verification itself happens in pqxdhInitiate). */
export function bundleFromWire(w: PreKeyBundleWire): PreKeyBundle {
  const b = base64urlDecode;
  return {
    identity: { signingKey: b(w.identity.signingKey), dhKey: b(w.identity.dhKey), binding: b(w.identity.binding) },
    signedPreKey: { id: w.signedPreKey.id, publicKey: b(w.signedPreKey.publicKey), signature: b(w.signedPreKey.signature) },
    kemPreKey: { id: w.kemPreKey.id, publicKey: b(w.kemPreKey.publicKey), signature: b(w.kemPreKey.signature) },
    ...(w.oneTimePreKey && { oneTimePreKey: { id: w.oneTimePreKey.id, publicKey: b(w.oneTimePreKey.publicKey) } }),
  };
}
