/**
 * The prekey service (docs/PROTOCOL.md §14): authenticated users publish their PQXDH keys, read how many
 * one-time keys remain, and fetch another user's bundle. Every signature is verified at upload against
 * the uploader's registered Ed25519 key, so the directory never serves a key its owner did not sign;
 * each one-time key is handed to one requester only (the store takes it in one transaction).
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { verifyIdentityBindingSignature, verifyKemPreKeySignature, verifySignedPreKeySignature } from '../e2ee/pqxdh/signatures.js';
import { InvalidX25519KeyError, X25519KeyPair } from '../crypto/x25519.js';
import { ChatError } from '../protocol/errors.js';
import type { PreKeysLowEvent } from '../protocol/events.js';
import { PREKEY_LOW_THRESHOLD } from '../protocol/limits.js';
import type { PreKeysUploadPayload } from '../protocol/prekey-schemas.js';
import type { ConnectionState, HandlerTable } from './connection.js';
import { PRIMARY_DEVICE, type ServerStore } from './store/server-store.js';

function signedInUser(conn: ConnectionState): string {
  // The dispatcher lets only logged-in connections reach these handlers; this keeps the types honest.
  if (conn.username === null) throw new ChatError('not_authenticated', 'log in first');
  return conn.username;
}

async function registeredSigningKey(store: ServerStore, username: string): Promise<Uint8Array> {
  const user = await store.getUser(username);
  if (!user) throw new ChatError('unknown_user', `no user named "${username}"`);
  return base64urlDecode(user.signingKey.x);
}

/** Throws `bad_signature` naming the first key whose signature does not verify. */
function verifyUpload(signingKey: Uint8Array, p: PreKeysUploadPayload): void {
  const b = base64urlDecode;
  const refuse = (what: string) => {
    throw new ChatError('bad_signature', `${what}: signature does not verify against your registered signing key`);
  };
  if (!verifyIdentityBindingSignature(signingKey, b(p.identity.dhKey), b(p.identity.binding))) refuse('identity binding');
  if (p.signedPreKey && !verifySignedPreKeySignature(signingKey, b(p.signedPreKey.publicKey), b(p.signedPreKey.signature))) {
    refuse(`signed prekey ${p.signedPreKey.id}`);
  }
  for (const k of [...(p.lastResortKemPreKey ? [p.lastResortKemPreKey] : []), ...(p.kemPreKeys ?? [])]) {
    if (!verifyKemPreKeySignature(signingKey, b(k.publicKey), b(k.signature))) refuse(`ML-KEM prekey ${k.id}`);
  }
}

/** A fixed key pair to probe peers' keys with: any clamped scalar maps exactly the low-order points to 0. */
let probe: Promise<X25519KeyPair> | undefined;

/**
 * Throws `bad_request` naming the first X25519 key that is low-order: X25519 with it gives the
 * all-zero shared secret, which every client refuses (docs/PROTOCOL.md §16.5), so storing it would
 * only hand out bundles no one can use. The same test the clients apply: one DH, output all zero.
 */
async function refuseLowOrderKeys(p: PreKeysUploadPayload): Promise<void> {
  probe ??= X25519KeyPair.generate();
  const pair = await probe;
  const keys: Array<[string, string]> = [
    ['identity.dhKey', p.identity.dhKey],
    ...(p.signedPreKey ? [['signedPreKey.publicKey', p.signedPreKey.publicKey] as [string, string]] : []),
    ...(p.oneTimePreKeys ?? []).map((k, i): [string, string] => [`oneTimePreKeys.${i}.publicKey`, k.publicKey]),
  ];
  for (const [path, key] of keys) {
    try {
      await pair.agree(base64urlDecode(key));
    } catch (err) {
      if (!(err instanceof InvalidX25519KeyError)) throw err;
      throw new ChatError('bad_request', `${path}: low-order X25519 key (its shared secrets are all zero)`);
    }
  }
}

/** What the bundle service needs from the server around it. */
export interface PreKeyServiceDeps {
  store: ServerStore;
  /** Token buckets per requesting user and per target user: false means refuse. */
  allowFetch(requester: string, target: string): boolean;
  /** Tell the owner's connected devices that their one-time prekeys are running low. */
  notifyLow(username: string, counts: PreKeysLowEvent): void;
}

export type PreKeyEventName = 'prekeys.upload' | 'prekeys.count' | 'prekeys.bundle';

export function preKeyHandlers({ store, allowFetch, notifyLow }: PreKeyServiceDeps): Pick<HandlerTable, PreKeyEventName> {
  return {
    'prekeys.upload': {
      run: async (conn, p) => {
        const username = signedInUser(conn);
        await refuseLowOrderKeys(p);
        verifyUpload(await registeredSigningKey(store, username), p);
        return store.putPreKeys(
          username,
          PRIMARY_DEVICE, // v1 connections are device 1 (design §5.10)
          {
            identity: p.identity,
            ...(p.signedPreKey && { signedPreKey: p.signedPreKey }),
            ...(p.lastResortKemPreKey && { lastResortKemPreKey: p.lastResortKemPreKey }),
            oneTimePreKeys: p.oneTimePreKeys ?? [],
            kemPreKeys: p.kemPreKeys ?? [],
          },
          Date.now(),
        );
      },
    },
    'prekeys.count': { run: (conn) => store.preKeyCounts(signedInUser(conn), PRIMARY_DEVICE) },
    'prekeys.bundle': {
      run: async (conn, p) => {
        const requester = signedInUser(conn);
        const user = await store.getUser(p.username);
        if (!user) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        if (!allowFetch(requester, p.username)) {
          throw new ChatError('rate_limited', `too many prekey bundle fetches (by you, or of ${p.username}); try again later`);
        }
        const answer = await store.takePreKeyBundles(p.username, [PRIMARY_DEVICE]);
        const taken = answer.status === 'taken' ? answer.bundles[0] : undefined;
        if (!taken) throw new ChatError('no_prekeys', `${p.username} has published no prekeys (their client has not run since ratchet sessions were added)`);
        if (taken.remaining.oneTime < PREKEY_LOW_THRESHOLD || taken.remaining.kemOneTime < PREKEY_LOW_THRESHOLD) {
          notifyLow(p.username, { oneTime: taken.remaining.oneTime, kemOneTime: taken.remaining.kemOneTime });
        }
        return {
          username: p.username,
          identity: { signingKey: user.signingKey.x, dhKey: taken.identity.dhKey, binding: taken.identity.binding },
          signedPreKey: taken.signedPreKey,
          kemPreKey: taken.kemPreKey,
          ...(taken.oneTimePreKey && { oneTimePreKey: taken.oneTimePreKey }),
        };
      },
    },
  };
}
