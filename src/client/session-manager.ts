/**
 * Ratchet-mode messaging per address (one device of a peer: Sesame's per-device sessions,
 * docs/design/devices-v2.md §7): seals a message payload with that device's session (running PQXDH
 * against a fetched, verified bundle first when there is no usable session) and opens incoming ratchet
 * envelopes. Everything for one address runs under one lock, from loading the session to saving it, so a
 * send and a receive never both advance the state they loaded. Across processes of the same user the
 * store's compare-and-swap does that job: a save that lost the race redoes the work on the newer session
 * (a message key is never used twice, no DH ratchet step is forgotten). A username alone is the peer's
 * device 1 (address.ts): every caller speaking protocol 1 names peers that way.
 *
 * Crash safety, by order of writes:
 *  - sending: the advanced session is saved before the envelope enters the outbox, so a message key is
 *    never used twice (a crash in between loses that one unsent message; the peer skips its number);
 *  - receiving: the message is recorded (the caller's `accept`) before the session is saved, and the
 *    session is saved before the envelope is acknowledged. A redelivery after a crash either decrypts
 *    again (session not yet saved: the message store finds the id) or no longer decrypts, in which case
 *    the session's list of decrypted server ids names the message: a duplicate, not a failure.
 * Used one-time prekeys are removed in the transaction that saves the session the initial message created
 * (never before it decrypted): a crash leaves both or neither.
 *
 * Store reads per message (ratchet-store.ts): the address's session; for an initial message also the
 * prekeys it names (ResponderPreKeys). The identity is read once per process (it never changes) and only
 * when PQXDH needs it: a plain ratchet message and a seal on an existing session read no key at all.
 */
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { base64urlDecode, base64urlEncode, constantTimeEqual, utf8Decode, utf8Encode } from '../crypto/bytes.js';
import type { PreKeyBundle } from '../e2ee/pqxdh/bundle.js';
import { parsePayload, payloadMatchesRoute, type Payload } from '../e2ee/message-payload.js';
import { pickleSessionRecord, unpickleSessionRecord } from '../e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession } from '../e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../e2ee/ratchet/session-record.js';
import type { RatchetState } from '../e2ee/ratchet/state.js';
import type { LocalIdentity } from '../e2ee/pqxdh/identity.js';
import { ChatError, DecryptionFailedError } from '../protocol/errors.js';
import type { RatchetEnvelope } from '../protocol/schemas.js';
import { addressOf, addressText, type Address, type AddressLike } from './address.js';
import { localStoreErrorIn, readLocal } from './local-store-error.js';
import { loadOrCreateIdentity } from './local-prekeys.js';
import type { PeerSessionPickle, PreKeysUsed, RatchetStore } from './ratchet-store.js';
import { ResponderPreKeys } from './responder-prekeys.js';

/**
 * Decrypted server ids remembered per address: twice the server's delivery window (512 unacknowledged
 * envelopes per connection), i.e. everything that can come back after a crash before its ack.
 */
export const REMEMBERED_DELIVERIES = 1024;

/** Lock name for the local keys: never an address's text (`user/device`, never empty). */
const KEYS_LOCK = '';

/** Attempts before a compare-and-swap save gives up; each lost race means another process saved meanwhile. */
export const MAX_STORE_ATTEMPTS = 10;

export interface SessionManagerDeps {
  readonly store: RatchetStore;
  readonly signingKey: Ed25519SigningKey;
  /** A prekey bundle of one device, verified against that device's listed keys (PeerDirectory.fetchBundle). */
  readonly fetchBundle: (peer: Address) => Promise<PreKeyBundle>;
  /** Called after an initial message used up one-time prekeys: time to check the server's stock. */
  readonly onPreKeysConsumed: () => void;
}

export type OpenOutcome = { status: 'accepted' } | { status: 'duplicate'; messageId: string };

interface LoadedSession {
  readonly record: SessionRecord;
  readonly delivered: Array<readonly [string, string]>;
  /** The store's version of the entry (0: none yet), for the compare-and-swap save. */
  readonly version: number;
}

/** AD = EncodeEC(IK_A) || EncodeEC(IK_B) || EncodeEd(IDS_A) || EncodeEd(IDS_B) (docs/PROTOCOL.md §16.6): is `key` IDS_A or IDS_B? */
function boundTo(state: RatchetState, key: Uint8Array): boolean {
  const ad = state.associatedData;
  return constantTimeEqual(ad.subarray(67, 99), key) || constantTimeEqual(ad.subarray(100, 132), key);
}

/** Is the X25519 `key` IK_A or IK_B of the session's AD (each EncodeEC: a type byte, then the key)? */
function boundToIdentity(state: RatchetState, key: Uint8Array): boolean {
  const ad = state.associatedData;
  return constantTimeEqual(ad.subarray(1, 33), key) || constantTimeEqual(ad.subarray(34, 66), key);
}

/**
 * The payload inside a decrypted ratchet message, or DecryptionFailedError whatever is wrong with it
 * (UnsupportedPayloadError for an authentic payload of a kind this client does not know).
 */
function openPayload(plaintext: Uint8Array, peer: Address, me: string): Payload {
  let json: unknown;
  try {
    json = JSON.parse(utf8Decode(plaintext));
  } catch (cause) {
    throw new DecryptionFailedError({ cause });
  }
  const payload = parsePayload(json);
  if (!payload || !payloadMatchesRoute(payload, { from: peer.user, fromDevice: peer.device, me })) {
    throw new DecryptionFailedError({ cause: new Error('ratchet payload is malformed or names other parties') });
  }
  return payload;
}

/** The size the server measures: the envelope's JSON text (ASCII: base64url inside), in bytes. */
export const envelopeBytes = (envelope: object): number => utf8Encode(JSON.stringify(envelope)).length;

/** Refuses an envelope above the server's cap, naming both sizes (before it can enter the outbox). */
export function checkEnvelopeSize(envelope: object, maxEnvelopeBytes: number): void {
  const size = envelopeBytes(envelope);
  if (size > maxEnvelopeBytes) {
    const n = (v: number) => v.toLocaleString('en-US');
    throw new ChatError('envelope_too_large', `message is ${n(size)} bytes sealed; the server accepts at most ${n(maxEnvelopeBytes)}`);
  }
}

/** Addresses remembered as sealed-for before the hint set starts over (a hint only: forgetting costs a store read). */
const SEALED_FOR_HINTS = 10_000;

export class SessionManager {
  readonly #locks = new Map<string, Promise<unknown>>();
  /** This device's identity, read (or created) once: it never changes while the store exists. */
  #identity: Promise<LocalIdentity> | undefined;
  /** Addresses this process has sealed for (a hint for sealedBefore; bounded by the devices one talks to). */
  readonly #sealedFor = new Set<string>();

  constructor(private readonly deps: SessionManagerDeps) {}

  private locked<T>(name: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#locks.get(name) ?? Promise.resolve()).then(work, work);
    const tail = run.catch(() => undefined);
    this.#locks.set(name, tail);
    void tail.then(() => this.#locks.get(name) === tail && this.#locks.delete(name));
    return run;
  }

  private async load(address: Address): Promise<LoadedSession> {
    const saved = await this.deps.store.loadSession(address);
    return {
      record: saved ? unpickleSessionRecord(saved.value.record) : new SessionRecord(),
      delivered: [...(saved?.value.delivered ?? [])],
      version: saved?.version ?? 0,
    };
  }

  /**
   * Runs `work` on the freshly loaded session and saves it when work says so, compare-and-swap; a lost
   * race (another process saved this address's session meanwhile) discards the work's result and runs
   * it again on the newer session. Callers hold the address's lock.
   */
  private async update<T>(address: Address, work: (session: LoadedSession) => Promise<{ save: boolean; result: T; used?: PreKeysUsed | undefined }>): Promise<T> {
    for (let attempt = 0; attempt < MAX_STORE_ATTEMPTS; attempt++) {
      const session = await this.load(address);
      const { save, result, used } = await work(session);
      if (!save) return result;
      const pickle: PeerSessionPickle = { v: 1, record: pickleSessionRecord(session.record), delivered: session.delivered.slice(-REMEMBERED_DELIVERIES) };
      if (await this.deps.store.saveSession(address, pickle, session.version, used)) return result;
    }
    throw new ChatError('internal', `the session with "${addressText(address)}" kept changing under us (${MAX_STORE_ATTEMPTS} attempts)`);
  }

  /** The identity record, read once per process; a failed read is retried on the next call. */
  private identity(): Promise<LocalIdentity> {
    const loading = (this.#identity ??= loadOrCreateIdentity(this.deps.store, this.deps.signingKey, Date.now()));
    loading.catch(() => this.#identity === loading && (this.#identity = undefined));
    return loading;
  }

  /** IK: this device's X25519 identity key, the one its device-list entry names (created on first use). */
  async identityKey(): Promise<Uint8Array> {
    return (await this.identity()).dhKeyPair.publicKey;
  }

  /** Serialises every read-modify-write of the local keys (here and in PreKeyPublisher). */
  withKeysLocked<T>(work: () => Promise<T>): Promise<T> {
    return this.locked(KEYS_LOCK, work);
  }

  /**
   * Whether this process has sealed for `peer` before, so that its session surely exists: a hint, read
   * without the store, for deciding whether to fetch bundles ahead (MessageSealer). A wrong answer costs
   * only a fetch at seal time.
   */
  sealedBefore(peer: AddressLike): boolean {
    return this.#sealedFor.has(addressText(addressOf(peer)));
  }

  /** Whether a session with `peer` (bound to their pinned key) can send now, without the server. */
  async hasSession(peer: AddressLike, peerSigningKey: Uint8Array): Promise<boolean> {
    const { record } = await this.load(addressOf(peer));
    return record.current !== undefined && record.current.canSend && boundTo(record.current, peerSigningKey);
  }

  /**
   * Encrypts `payload` for `peer`; `persist` (the outbox write) runs under the lock after the session
   * was saved, so outbox order is ratchet order. `online` says whether a bundle may be fetched. An
   * envelope above `maxEnvelopeBytes` is refused (envelope_too_large) before the session is saved: the
   * exact sealed size is measured on the unsaved copy, so a refused message costs no chain step.
   */
  async seal(
    peer: AddressLike,
    peerSigningKey: Uint8Array,
    payload: Payload,
    online: boolean,
    maxEnvelopeBytes: number,
    persist?: (e: RatchetEnvelope) => Promise<void>,
  ): Promise<RatchetEnvelope> {
    const address = addressOf(peer);
    return this.locked(addressText(address), async () => {
      const envelope = await this.update(address, async ({ record }) => {
        const current = record.current;
        if (!current || !current.canSend || !boundTo(current, peerSigningKey)) {
          if (!online) throw new ChatError('not_connected', `not connected, and no session with "${address.user}" yet`);
          await initiateSession(record, await this.deps.fetchBundle(address), await this.identity(), { expectedRemoteSigningKey: peerSigningKey });
        }
        const message = encryptMessage(record, utf8Encode(JSON.stringify(payload)));
        const envelope = { type: 'ratchet', v: 1, body: base64urlEncode(message) } satisfies RatchetEnvelope;
        checkEnvelopeSize(envelope, maxEnvelopeBytes); // throws: `update` saves nothing
        return { save: true, result: envelope };
      });
      if (this.#sealedFor.size >= SEALED_FOR_HINTS) this.#sealedFor.clear();
      this.#sealedFor.add(addressText(address));
      await persist?.(envelope);
      return envelope;
    });
  }

  /**
   * Opens an envelope from `peer` (the sending address) and hands the checked payload to `accept` (which
   * records it), then saves the session. Throws DecryptionFailedError when it neither decrypts nor is a
   * known delivery.
   */
  async open(
    peer: AddressLike,
    me: string,
    serverId: string,
    envelope: RatchetEnvelope,
    peerSigningKey: Uint8Array,
    accept: (payload: Payload) => Promise<void>,
    /** The peer device's IK as its verified list names it (§21.6); absent for device 1 of a user without a list. */
    peerIdentityKey?: Uint8Array | null,
  ): Promise<OpenOutcome> {
    const address = addressOf(peer);
    return this.locked(addressText(address), async () => {
      // A lost save race runs the work again: the payload must still be handed to `accept` only once.
      let acceptedId: string | undefined;
      const outcome = await this.update<OpenOutcome & { usedOneTime?: boolean }>(address, async ({ record, delivered }) => {
        // Reads the prekeys an initial message names, one record each; a plain message reads none.
        const preKeys = new ResponderPreKeys(this.deps.store);
        let result: Awaited<ReturnType<typeof decryptMessage>>;
        try {
          const bytes = base64urlDecode(envelope.body);
          // The identity is read only when PQXDH needs it (a new session); a plain message never asks.
          result = await decryptMessage(record, bytes, { identity: { getLocalIdentity: () => readLocal('identity', () => this.identity()) }, preKeys, expectedRemoteSigningKey: peerSigningKey });
          if (!boundTo(record.current!, peerSigningKey)) throw new ChatError('peer_key_changed', 'session belongs to a different identity key');
          if (peerIdentityKey && !boundToIdentity(record.current!, peerIdentityKey)) throw new ChatError('peer_key_changed', 'session is bound to another X25519 identity than the listed one');
        } catch (err) {
          // Our own storage failed, not the message: passing (retried, then left), never a rejection.
          const local = localStoreErrorIn(err);
          if (local) throw local;
          const earlier = delivered.find(([id]) => id === serverId);
          if (earlier) return { save: false, result: { status: 'duplicate', messageId: earlier[1] } };
          throw err instanceof DecryptionFailedError ? err : new DecryptionFailedError({ cause: err });
        }
        // An authentic message (its MAC checked) whose plaintext is not a valid payload for us is a
        // permanent failure like any other: it must leave through DecryptionFailedError (or, for a kind
        // from a newer client, UnsupportedPayloadError), or the caller would take it for a passing one
        // and never acknowledge it (issue 9, hole 3).
        const payload = openPayload(result.plaintext, address, me);
        if (acceptedId !== payload.id) await accept(payload);
        acceptedId = payload.id;
        delivered.push([serverId, payload.id]);
        // The used prekeys go with the session save, in its transaction: gone exactly when the session exists.
        const used = preKeys.used;
        return { save: true, result: { status: 'accepted', usedOneTime: used?.oneTimeId !== undefined || used?.kemOneTimeId !== undefined }, used };
      });
      if (outcome.status === 'duplicate') return { status: 'duplicate', messageId: outcome.messageId };
      if (outcome.usedOneTime) this.deps.onPreKeysConsumed();
      return { status: 'accepted' };
    });
  }
}
