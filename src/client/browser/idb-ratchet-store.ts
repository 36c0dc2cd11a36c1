/**
 * The RatchetStore in the account's IndexedDB database, one row per record as ratchet-store.ts asks and
 * node/sqlite-ratchet-store.ts does: sessions by an HMAC of their address (`rev` is the session's
 * version), prekeys by kind and id beside their handed-out mark, last-resort uses by an HMAC of their id
 * beside the prekey ids they name, the key state (ids and pointers, nothing secret) in the meta store.
 * Every value is sealed under the vault's data key with its store and key as associated data. The PQXDH
 * identity key IK is more than sealed: its secret is WRAPPED under the data key (PKCS#8, AES-GCM key
 * wrap) and comes back as a non-extractable X25519 CryptoKey (HeldIdentityKey), so no script, ours
 * included, reads it after creation; the client uses it through X25519KeyPair.fromCryptoKey.
 *
 * Each step the interface makes atomic is one IndexedDB transaction, and every transaction only reads
 * and writes rows: whatever must be sealed (a session, new prekeys, the deleted session's EMPTY_SESSION)
 * is sealed before it opens, and what it read is opened after it committed (idb.ts says why). So a
 * session save is its compare-and-swap, the check that the one-time keys it used are still there, their
 * deletion and the last-resort use, all in one transaction: they are gone exactly when the session exists.
 */
import { addressOf, addressText, type AddressLike } from '../address.js';
import {
  EMPTY_SESSION,
  MAX_LAST_RESORT_USES,
  lastResortUsePrekeys,
  type HeldIdentityKey,
  type IdentityKeyPickle,
  type KeySetImport,
  type KeyState,
  type OneTimeKind,
  type PeerSessionPickle,
  type PreKeyKind,
  type PreKeyPickles,
  type PreKeysUsed,
  type RatchetStore,
} from '../ratchet-store.js';
import { STORES } from './account-database.js';
import { requestResult, transact } from './idb.js';
import type { SealedRow } from './record-rows.js';
import type { RecordSealer } from './record-sealer.js';
import type { Vault, WrappedKey } from './vault.js';

const S = STORES.sessions;
const K = STORES.prekeys;
const U = STORES.lastResortUses;
const META = STORES.meta;
const KEY_STATE = 'keyState';
const IDENTITY = 'ratchetIdentity';

interface PreKeyRow {
  kind: PreKeyKind;
  id: number;
  rev: number;
  data: Uint8Array;
  /** 1 for one-time keys (X25519 ones, and ML-KEM ones other than last-resort): the index lists them. */
  oneTime: 0 | 1;
  handedOut?: number;
}

interface UseRow {
  seq?: number;
  use: string;
  kemId: number;
  signedId: number;
}

/** The identity record: IK's public key and binding, and its secret wrapped under the data key. */
interface IdentityRecord {
  readonly publicKey: string;
  readonly binding: string;
  readonly wrapped: WrappedKey;
}
const IDENTITY_PURPOSE = 'ratchet/identity';
const X25519 = { name: 'X25519' } as const;

const prekeyKey = (kind: PreKeyKind, id: number): string => `${kind}:${id}`;
const isOneTime = (kind: PreKeyKind, record: object): boolean => kind === 'oneTime' || (kind === 'kem' && (record as PreKeyPickles['kem']).kind === 'one-time');

/** Inside a transaction: whether a prekey row exists. */
const hasPreKey = async (tx: IDBTransaction, kind: PreKeyKind, id: number): Promise<boolean> => (await requestResult(tx.objectStore(K).getKey([kind, id]))) !== undefined;

/**
 * Inside a transaction: records a last-resort use (named by its HMAC), then forgets the uses whose
 * prekeys are gone and the oldest beyond MAX_LAST_RESORT_USES, as MemoryRatchetStore does.
 */
async function recordUse(tx: IDBTransaction, use: UseRow): Promise<void> {
  const uses = tx.objectStore(U);
  if ((await requestResult(uses.index('use').getKey(use.use))) === undefined) await requestResult(uses.add(use));
  const all = await requestResult<UseRow[]>(uses.getAll());
  const present = new Map<string, boolean>();
  const exists = async (kind: PreKeyKind, id: number) => {
    const key = prekeyKey(kind, id);
    if (!present.has(key)) present.set(key, await hasPreKey(tx, kind, id));
    return present.get(key)!;
  };
  let kept = 0;
  for (const row of all) {
    if ((await exists('kem', row.kemId)) && (await exists('signed', row.signedId))) kept++;
    else await requestResult(uses.delete(row.seq!));
  }
  if (kept <= MAX_LAST_RESORT_USES) return;
  // The oldest first: the lowest seqs.
  const keys = await requestResult(uses.getAllKeys(null, kept - MAX_LAST_RESORT_USES));
  for (const key of keys) await requestResult(uses.delete(key));
}

export class IdbRatchetStore implements RatchetStore {
  private readonly sealer: RecordSealer;
  /** The unwrapped identity, once read: it never changes once created. */
  #identity: Promise<HeldIdentityKey | undefined> | undefined;

  constructor(
    private readonly db: IDBDatabase,
    private readonly vault: Vault,
  ) {
    this.sealer = vault.sealer;
  }

  /** IK's secret wrapped: imported extractable only because wrapKey needs that, and dropped after. */
  private async wrapIdentity(identity: IdentityKeyPickle): Promise<IdentityRecord> {
    const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'X25519', d: identity.secretKey, x: identity.publicKey }, X25519, true, ['deriveBits']);
    return { publicKey: identity.publicKey, binding: identity.binding, wrapped: await this.vault.wrapPrivateKey(key, IDENTITY_PURPOSE) };
  }

  private async readIdentity(): Promise<HeldIdentityKey | undefined> {
    const row = await transact(this.db, META, 'readonly', (tx) => requestResult<SealedRow | undefined>(tx.objectStore(META).get(IDENTITY)));
    if (!row) return undefined;
    const record = await this.sealer.open<IdentityRecord>(META, IDENTITY, row.data);
    const privateKey = await this.vault.unwrapPrivateKey(record.wrapped, IDENTITY_PURPOSE, X25519, ['deriveBits']);
    return { publicKey: record.publicKey, binding: record.binding, privateKey };
  }

  private sessionName(peer: AddressLike): Promise<string> {
    return this.sealer.nameOf(`session:${addressText(addressOf(peer))}`);
  }

  private useName(useId: string): Promise<string> {
    return this.sealer.nameOf(`last-resort-use:${useId}`);
  }

  private async prekeyRow(kind: PreKeyKind, record: PreKeyPickles[PreKeyKind], handedOut?: number): Promise<PreKeyRow> {
    const oneTime = isOneTime(kind, record);
    const data = await this.sealer.seal(K, prekeyKey(kind, record.id), record);
    return { kind, id: record.id, rev: 1, data, oneTime: oneTime ? 1 : 0, ...(oneTime && handedOut !== undefined && { handedOut }) };
  }

  async loadIdentity(): Promise<HeldIdentityKey | undefined> {
    this.#identity ??= this.readIdentity();
    try {
      const identity = await this.#identity;
      // Not there yet: read again next time (createKeys, here or in another tab, may come first).
      if (!identity) this.#identity = undefined;
      return identity;
    } catch (err) {
      this.#identity = undefined; // a passing fault is not remembered
      throw err;
    }
  }

  async createKeys(keys: KeySetImport): Promise<HeldIdentityKey> {
    const identity: SealedRow = { name: IDENTITY, rev: 1, data: await this.sealer.seal(META, IDENTITY, await this.wrapIdentity(keys.identity)) };
    const state: KeyState = { currentSignedId: keys.currentSignedId, lastResortId: keys.lastResortId, nextIds: { ...keys.nextIds } };
    const marks = { oneTime: new Map(keys.handedOut?.oneTime ?? []), kem: new Map(keys.handedOut?.kem ?? []) };
    const prekeys: PreKeyRow[] = [];
    for (const kind of ['signed', 'oneTime', 'kem'] as const) {
      for (const r of keys[kind]) prekeys.push(await this.prekeyRow(kind, r, kind === 'signed' ? undefined : marks[kind].get(r.id)));
    }
    const uses: UseRow[] = await Promise.all(
      (keys.lastResortUses ?? []).map(async (u) => {
        const [kemId, signedId] = lastResortUsePrekeys(u);
        return { use: await this.useName(u), kemId, signedId };
      }),
    );
    // First writer wins: another connection (a second tab racing the first start) may have created keys.
    await transact(this.db, [META, K, U], 'readwrite', async (tx) => {
      const meta = tx.objectStore(META);
      if ((await requestResult(meta.getKey(IDENTITY))) !== undefined) return;
      await requestResult(meta.add(identity, IDENTITY));
      await requestResult(meta.put(state, KEY_STATE));
      for (const row of prekeys) await requestResult(tx.objectStore(K).put(row));
      for (const use of uses) if ((await requestResult(tx.objectStore(U).index('use').getKey(use.use))) === undefined) await requestResult(tx.objectStore(U).add(use));
    });
    return (await this.loadIdentity())!;
  }

  async loadKeyState(): Promise<KeyState | undefined> {
    return transact(this.db, META, 'readonly', (tx) => requestResult<KeyState | undefined>(tx.objectStore(META).get(KEY_STATE)));
  }

  async loadPreKey<Kind extends PreKeyKind>(kind: Kind, id: number): Promise<PreKeyPickles[Kind] | undefined> {
    const row = await transact(this.db, K, 'readonly', (tx) => requestResult<PreKeyRow | undefined>(tx.objectStore(K).get([kind, id])));
    return row && this.sealer.open<PreKeyPickles[Kind]>(K, prekeyKey(kind, id), row.data);
  }

  async reservePreKeyIds(kind: PreKeyKind, count: number): Promise<number> {
    return transact(this.db, META, 'readwrite', async (tx) => {
      const meta = tx.objectStore(META);
      const state = await requestResult<KeyState | undefined>(meta.get(KEY_STATE));
      if (!state) throw new Error('no local keys yet: createKeys first');
      const first = state.nextIds[kind];
      await requestResult(meta.put({ ...state, nextIds: { ...state.nextIds, [kind]: first + count } }, KEY_STATE));
      return first;
    });
  }

  async addPreKeys<Kind extends PreKeyKind>(kind: Kind, records: readonly PreKeyPickles[Kind][]): Promise<void> {
    const rows = await Promise.all(records.map((r) => this.prekeyRow(kind, r)));
    await transact(this.db, K, 'readwrite', async (tx) => {
      const os = tx.objectStore(K);
      for (const row of rows) if (!(await hasPreKey(tx, kind, row.id))) await requestResult(os.add(row));
    });
  }

  async removePreKey(kind: PreKeyKind, id: number): Promise<boolean> {
    return transact(this.db, K, 'readwrite', async (tx) => {
      if (!(await hasPreKey(tx, kind, id))) return false;
      await requestResult(tx.objectStore(K).delete([kind, id]));
      return true;
    });
  }

  async setCurrentSignedPreKey(id: number, expected: number): Promise<boolean> {
    return transact(this.db, META, 'readwrite', async (tx) => {
      const meta = tx.objectStore(META);
      const state = await requestResult<KeyState | undefined>(meta.get(KEY_STATE));
      if (state?.currentSignedId !== expected) return false;
      await requestResult(meta.put({ ...state, currentSignedId: id }, KEY_STATE));
      return true;
    });
  }

  async listSignedPreKeyIds(): Promise<number[]> {
    const keys = await transact(this.db, K, 'readonly', (tx) => requestResult(tx.objectStore(K).getAllKeys(IDBKeyRange.bound(['signed', -Infinity], ['signed', Infinity]))));
    return keys.map((key) => (key as [string, number])[1]);
  }

  async listOneTimePreKeys(kind: OneTimeKind) {
    const rows = await transact(this.db, K, 'readonly', (tx) => requestResult<PreKeyRow[]>(tx.objectStore(K).index('oneTime').getAll([kind, 1])));
    return rows.map((r) => (r.handedOut === undefined ? { id: r.id } : { id: r.id, handedOutSince: r.handedOut }));
  }

  async setHandedOut(kind: OneTimeKind, id: number, since: number | undefined): Promise<void> {
    await transact(this.db, K, 'readwrite', async (tx) => {
      const os = tx.objectStore(K);
      const row = await requestResult<PreKeyRow | undefined>(os.get([kind, id]));
      if (!row || row.oneTime !== 1) return;
      const { handedOut: _old, ...rest } = row;
      await requestResult(os.put({ ...rest, rev: row.rev + 1, ...(since !== undefined && { handedOut: since }) }));
    });
  }

  async isLastResortUseRecorded(useId: string): Promise<boolean> {
    const use = await this.useName(useId);
    return transact(this.db, U, 'readonly', async (tx) => (await requestResult(tx.objectStore(U).index('use').getKey(use))) !== undefined);
  }

  async recordLastResortUse(useId: string, kemPreKeyId: number, signedPreKeyId: number): Promise<void> {
    const use = { use: await this.useName(useId), kemId: kemPreKeyId, signedId: signedPreKeyId };
    await transact(this.db, [U, K], 'readwrite', (tx) => recordUse(tx, use));
  }

  async loadSession(peer: AddressLike) {
    const name = await this.sessionName(peer);
    const row = await transact(this.db, S, 'readonly', (tx) => requestResult<SealedRow | undefined>(tx.objectStore(S).get(name)));
    return row && { value: await this.sealer.open<PeerSessionPickle>(S, name, row.data), version: row.rev };
  }

  async saveSession(peer: AddressLike, session: PeerSessionPickle, expected: number, used?: PreKeysUsed): Promise<boolean> {
    const name = await this.sessionName(peer);
    const data = await this.sealer.seal(S, name, session);
    const use = used?.lastResortUse && { use: await this.useName(used.lastResortUse.useId), kemId: used.lastResortUse.kemPreKeyId, signedId: used.lastResortUse.signedPreKeyId };
    return transact(this.db, [S, K, U], 'readwrite', async (tx) => {
      const sessions = tx.objectStore(S);
      const row = await requestResult<SealedRow | undefined>(sessions.get(name));
      if ((row?.rev ?? 0) !== expected) return false;
      // A one-time key the user's other connection already consumed (another peer's initial message under
      // the same key, handed out twice by a lying server): refuse, so no two sessions share one one-time key.
      // Checked before anything is written, so refusing needs no abort.
      if (used?.oneTimeId !== undefined && !(await hasPreKey(tx, 'oneTime', used.oneTimeId))) return false;
      if (used?.kemOneTimeId !== undefined && !(await hasPreKey(tx, 'kem', used.kemOneTimeId))) return false;
      await requestResult(sessions.put({ name, rev: expected + 1, data }));
      if (used?.oneTimeId !== undefined) await requestResult(tx.objectStore(K).delete(['oneTime', used.oneTimeId]));
      if (used?.kemOneTimeId !== undefined) await requestResult(tx.objectStore(K).delete(['kem', used.kemOneTimeId]));
      if (use) await recordUse(tx, use);
      return true;
    });
  }

  async deleteSessions(user: string, devices: readonly number[]): Promise<void> {
    const empties = await Promise.all(
      devices.map(async (device) => {
        const name = await this.sessionName({ user, device });
        return { name, data: await this.sealer.seal(S, name, EMPTY_SESSION) };
      }),
    );
    await transact(this.db, S, 'readwrite', async (tx) => {
      const sessions = tx.objectStore(S);
      for (const { name, data } of empties) {
        const row = await requestResult<SealedRow | undefined>(sessions.get(name));
        // EMPTY_SESSION at the next version: a writer holding the deleted session cannot save over it.
        if (row) await requestResult(sessions.put({ name, rev: row.rev + 1, data }));
      }
    });
  }
}
