/**
 * Keeps this user's prekeys published (docs/PROTOCOL.md §14), run after every login: uploads the
 * identity, signed prekey and last-resort key when the server lacks them, rotates the signed prekey after
 * SIGNED_PREKEY_ROTATION_MS (keeping replaced ones for SIGNED_PREKEY_GRACE_MS, for initial messages still
 * in flight), and refills one-time keys when fewer than PREKEY_REFILL_THRESHOLD remain. New keys are saved
 * locally before they are uploaded: a key the server hands out must always have its secret here.
 *
 * Runs after every login, after an initial message used up one-time keys, and when the server pushes
 * `prekeys.low` (chat-client.ts). Each run also deletes local one-time keys the server handed out that no
 * one used within the grace period, and caps the local stock (prekey-hygiene.ts).
 *
 * Every local write is one record (ratchet-store.ts): new keys take ids reserved from the store and are
 * only ever inserted, so another process of this user refilling, rotating or consuming at the same time
 * loses nothing; the rotation moves the "current" pointer compare-and-swap.
 */
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { base64urlDecode, base64urlEncode as e } from '../crypto/bytes.js';
import type { PreKeyBundle } from '../e2ee/pqxdh/bundle.js';
import type { LocalIdentity } from '../e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey, type KemPreKeyRecord, type SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { PREKEY_UPLOAD_KEM_CHUNK } from '../protocol/limits.js';
import type { PreKeyBundleWire, PreKeyCountResult, PreKeysUploadPayload } from '../protocol/prekey-schemas.js';
import { kemFromPickle, kemToPickle, loadOrCreateIdentity, oneTimeToPickle, signedFromPickle, signedToPickle } from './local-prekeys.js';
import { capOneTimeKeys, reconcileOneTimeKeys } from './prekey-hygiene.js';
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

function identityWire(identity: LocalIdentity): PreKeysUploadPayload['identity'] {
  return { dhKey: e(identity.dhKeyPair.publicKey), binding: e(identity.binding) };
}

/** The long-lived keys a device is first published with: IK and its binding, the current signed prekey, the last-resort ML-KEM prekey. */
export type LongLivedPreKeys = Required<Pick<PreKeysUploadPayload, 'identity' | 'signedPreKey' | 'lastResortKemPreKey'>>;

/**
 * This device's long-lived prekeys as the wire carries them (creating the identity and first prekeys if
 * the store has none): what a device being linked offers its primary, which publishes them with the
 * list that adds it (docs/PROTOCOL.md §18.6), so that a bundle for it exists from the moment it is listed.
 */
export async function longLivedPreKeys(store: RatchetStore, signingKey: Ed25519SigningKey, now: number): Promise<LongLivedPreKeys> {
  const identity = await loadOrCreateIdentity(store, signingKey, now);
  const state = (await store.loadKeyState())!;
  const signed = signedFromPickle((await store.loadPreKey('signed', state.currentSignedId))!);
  const lastResort = kemFromPickle((await store.loadPreKey('kem', state.lastResortId))!);
  return {
    identity: identityWire(identity),
    signedPreKey: { id: signed.id, publicKey: e(signed.keyPair.publicKey), signature: e(signed.signature) },
    lastResortKemPreKey: wireKem(lastResort),
  };
}

export class PreKeyPublisher {
  constructor(
    private readonly store: RatchetStore,
    private readonly signingKey: Ed25519SigningKey,
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
    const store = this.store;
    const me = await loadOrCreateIdentity(store, this.signingKey, now);
    // Before new keys exist: keys not yet uploaded are missing from the server's lists.
    await reconcileOneTimeKeys(store, counts, now);
    const signed = await this.rotateSignedPreKey(me, now);
    const state = (await store.loadKeyState())!;
    const lastResort = kemFromPickle((await store.loadPreKey('kem', state.lastResortId))!);

    // After a new identity (or on first use) the server holds none of our one-time keys.
    // Otherwise each kind on its own (PREKEY_REFILL_THRESHOLD): one kind running out never refills the other.
    const identity = identityWire(me);
    const published = counts.identityKey === identity.dhKey;
    const refill = (have: number, target: number) => (!published ? target : have < PREKEY_REFILL_THRESHOLD ? target - have : 0);
    const wantOneTime = refill(counts.oneTime, ONE_TIME_PREKEY_TARGET);
    const wantKem = refill(counts.kemOneTime, KEM_ONE_TIME_PREKEY_TARGET);
    // Saved before they are uploaded (a key the server hands out must have its secret here), under ids
    // no other process gets.
    const oneTime = wantOneTime > 0 ? await generateOneTimePreKeys(await store.reservePreKeyIds('oneTime', wantOneTime), wantOneTime) : [];
    await store.addPreKeys('oneTime', oneTime.map(oneTimeToPickle));
    const firstKem = wantKem > 0 ? await store.reservePreKeyIds('kem', wantKem) : 0;
    const kem: KemPreKeyRecord[] = [];
    for (let i = 0; i < wantKem; i++) kem.push(await generateKemPreKey(me, firstKem + i, 'one-time', { clock: () => now }));
    await store.addPreKeys('kem', kem.map(kemToPickle));
    await capOneTimeKeys(store); // new keys have the highest ids: the cap never takes them

    const longLivedStale =
      counts.identityKey !== identity.dhKey || counts.signedPreKeyId !== signed.id || counts.lastResortKemPreKeyId !== lastResort.id;
    const chunks = Math.max(longLivedStale || oneTime.length > 0 ? 1 : 0, Math.ceil(kem.length / PREKEY_UPLOAD_KEM_CHUNK));
    for (let c = 0; c < chunks; c++) {
      const payload: PreKeysUploadPayload = {
        identity,
        ...(c === 0 && longLivedStale && {
          signedPreKey: { id: signed.id, publicKey: e(signed.keyPair.publicKey), signature: e(signed.signature) },
          lastResortKemPreKey: wireKem(lastResort),
        }),
        ...(c === 0 && oneTime.length > 0 && { oneTimePreKeys: oneTime.map((k) => ({ id: k.id, publicKey: e(k.keyPair.publicKey) })) }),
        kemPreKeys: kem.slice(c * PREKEY_UPLOAD_KEM_CHUNK, (c + 1) * PREKEY_UPLOAD_KEM_CHUNK).map(wireKem),
      };
      counts = await this.connection.call('prekeys.upload', payload);
    }
    return counts;
  }

  /**
   * The current signed prekey, rotated first when older than SIGNED_PREKEY_ROTATION_MS; replaced ones
   * are deleted after SIGNED_PREKEY_GRACE_MS more. Two processes rotating at once: one pointer move wins,
   * the loser deletes its unused key and takes the winner's.
   */
  private async rotateSignedPreKey(identity: LocalIdentity, now: number): Promise<SignedPreKeyRecord> {
    const store = this.store;
    const { currentSignedId } = (await store.loadKeyState())!;
    let current = signedFromPickle((await store.loadPreKey('signed', currentSignedId))!);
    if (now - current.createdAt > SIGNED_PREKEY_ROTATION_MS) {
      const fresh = await generateSignedPreKey(identity, await store.reservePreKeyIds('signed', 1), { clock: () => now });
      await store.addPreKeys('signed', [signedToPickle(fresh)]);
      if (await store.setCurrentSignedPreKey(fresh.id, current.id)) current = fresh;
      else {
        await store.removePreKey('signed', fresh.id);
        const { currentSignedId: winner } = (await store.loadKeyState())!;
        current = signedFromPickle((await store.loadPreKey('signed', winner))!);
      }
    }
    for (const id of await store.listSignedPreKeyIds()) {
      if (id === current.id) continue;
      const old = await store.loadPreKey('signed', id);
      if (old && now - old.createdAt > SIGNED_PREKEY_ROTATION_MS + SIGNED_PREKEY_GRACE_MS) await store.removePreKey('signed', id);
    }
    return current;
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
