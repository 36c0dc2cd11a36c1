/**
 * The prekey service (docs/PROTOCOL.md §14): authenticated users publish their PQXDH keys, read how many
 * one-time keys remain, and fetch another user's bundle. Every signature is verified at upload against
 * the uploader's registered Ed25519 key, so the directory never serves a key its owner did not sign;
 * each one-time key is handed to one requester only (the store takes it in one transaction).
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { verifyIdentityBindingSignature, verifyKemPreKeySignature, verifySignedPreKeySignature } from '../e2ee/pqxdh/signatures.js';
import { ChatError } from '../protocol/errors.js';
import { preKeysBundlePayloadSchema, preKeysUploadPayloadSchema, type PreKeyBundleWire, type PreKeyCountResult, type PreKeysUploadPayload } from '../protocol/prekey-schemas.js';
import { emptyPayloadSchema } from '../protocol/schemas.js';
import { handler, type ConnectionState, type Handler } from './connection.js';
import type { ServerStore } from './store/server-store.js';

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

export function preKeyHandlers(store: ServerStore): Array<[string, Handler]> {
  return [
    [
      'prekeys.upload',
      handler({
        schema: preKeysUploadPayloadSchema,
        run: async (conn, p): Promise<PreKeyCountResult> => {
          const username = signedInUser(conn);
          verifyUpload(await registeredSigningKey(store, username), p);
          return store.putPreKeys(
            username,
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
      }),
    ],
    ['prekeys.count', handler({ schema: emptyPayloadSchema, run: (conn) => store.preKeyCounts(signedInUser(conn)) })],
    [
      'prekeys.bundle',
      handler({
        schema: preKeysBundlePayloadSchema,
        run: async (_conn, p): Promise<PreKeyBundleWire> => {
          const user = await store.getUser(p.username);
          if (!user) throw new ChatError('unknown_user', `no user named "${p.username}"`);
          const taken = await store.takePreKeyBundle(p.username);
          if (!taken) throw new ChatError('no_prekeys', `${p.username} has published no prekeys (their client has not run since ratchet sessions were added)`);
          return {
            username: p.username,
            identity: { signingKey: user.signingKey.x, dhKey: taken.identity.dhKey, binding: taken.identity.binding },
            signedPreKey: taken.signedPreKey,
            kemPreKey: taken.kemPreKey,
            ...(taken.oneTimePreKey && { oneTimePreKey: taken.oneTimePreKey }),
          };
        },
      }),
    ],
  ];
}
