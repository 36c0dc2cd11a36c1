/**
 * The browser vault (src/client/browser/vault.ts) and the sealing of records under it: a wrong
 * passphrase is WrongPassphraseError and changes nothing; a passphrase change rewraps the data key and
 * touches no record; the unlocked keys cannot be exported; a record moved to another key or store, or
 * altered, does not open; the database shows neither message bodies nor who the user talks to.
 */
import { describe, expect, it } from 'vitest';
import { databaseNameOf, STORES } from '../../../src/client/browser/account-database.js';
import { BrowserAccount } from '../../../src/client/browser/browser-account.js';
import { requestResult, transact } from '../../../src/client/browser/idb.js';
import type { SealedRow } from '../../../src/client/browser/record-rows.js';
import { Vault } from '../../../src/client/browser/vault.js';
import { LocalStoreError } from '../../../src/client/local-store-error.js';
import type { HistoryRecord, PinnedPeer } from '../../../src/client/stores.js';
import { WrongPassphraseError } from '../../../src/crypto/passphrase-seal.js';
import { freshAccountName, newIdbAccount, rawRows, rawText, reopenIdbAccount, TEST_PASSPHRASE, TEST_SCRYPT } from '../../helpers/browser-stores.js';

const incoming = (id: string, body: string, peer = 'bob'): HistoryRecord => ({ id, direction: 'in', peer, body, sentAt: 1, status: 'received' });
const pin = (username: string): PinnedPeer => ({
  username,
  signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
  encryptionKey: { kty: 'RSA', n: 'n', e: 'AQAB' },
  signingKeyThumbprint: `s-${username}`,
  encryptionKeyThumbprint: `e-${username}`,
  pinnedAt: 1,
  verified: false,
});

/** The private fields of an unlocked vault (TypeScript's `private` is not a runtime barrier; WebCrypto's is). */
const keysOf = (vault: Vault) => {
  const inner = vault as unknown as { dataKey: CryptoKey; sealer: { nameKey: CryptoKey } };
  return { dataKey: inner.dataKey, nameKey: inner.sealer.nameKey };
};

describe('the browser vault', () => {
  it('a wrong passphrase is WrongPassphraseError and changes nothing; the right one still opens every record', async () => {
    const alice = await newIdbAccount();
    await alice.messages().recordIncoming(incoming('m1', 'hello'));
    const before = await rawRows(alice.db);
    await expect(Vault.unlock(alice.db, alice.username, 'not the passphrase')).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(BrowserAccount.open(alice.username, 'not the passphrase', { scrypt: TEST_SCRYPT })).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(Vault.changePassphrase(alice.db, alice.username, 'not the passphrase', 'new one', TEST_SCRYPT)).rejects.toBeInstanceOf(WrongPassphraseError);
    expect(await rawRows(alice.db)).toEqual(before);
    const again = await reopenIdbAccount(alice.username);
    expect(await again.messages().get('m1', 'in')).toMatchObject({ body: 'hello' });
  });

  it('a passphrase change rewraps the data key only: the old passphrase no longer opens, the new one opens every record as it was', async () => {
    const alice = await newIdbAccount();
    await alice.messages().recordIncoming(incoming('m1', 'before the change'));
    await alice.peers().put(pin('bob'));
    const before = await rawRows(alice.db);
    await BrowserAccount.changePassphrase(alice.username, TEST_PASSPHRASE, 'a new passphrase', { scrypt: TEST_SCRYPT });
    const after = await rawRows(alice.db);
    // Only the vault row changed, and in it only the KDF salt and the data key's wrap.
    for (const store of Object.keys(before).filter((s) => s !== STORES.meta)) expect(after[store], store).toEqual(before[store]);
    const vaultRow = (rows: unknown[]) => (rows as [string, Record<string, unknown>][]).find(([key]) => key === 'vault')![1];
    const [v0, v1] = [vaultRow(before.meta!), vaultRow(after.meta!)];
    expect(v1.nameKey).toEqual(v0.nameKey);
    expect(v1.dataKey).not.toEqual(v0.dataKey);
    expect((after.meta as unknown[]).filter((row) => !(row as [string])[0].startsWith('vault'))).toEqual((before.meta as unknown[]).filter((row) => !(row as [string])[0].startsWith('vault')));

    await expect(reopenIdbAccount(alice.username, TEST_PASSPHRASE)).rejects.toBeInstanceOf(WrongPassphraseError);
    const reopened = await reopenIdbAccount(alice.username, 'a new passphrase');
    expect(await reopened.messages().get('m1', 'in')).toMatchObject({ body: 'before the change' });
    expect(await reopened.peers().get('bob')).toEqual(pin('bob'));
  });

  it('holds its data and name keys as non-extractable CryptoKeys once unlocked', async () => {
    const alice = await newIdbAccount();
    for (const vault of [alice.vault, (await reopenIdbAccount(alice.username)).vault]) {
      const { dataKey, nameKey } = keysOf(vault);
      expect(dataKey).toBeInstanceOf(CryptoKey);
      expect([dataKey.extractable, nameKey.extractable]).toEqual([false, false]);
      expect(dataKey.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
      await expect(crypto.subtle.exportKey('raw', dataKey)).rejects.toThrow();
      await expect(crypto.subtle.exportKey('raw', nameKey)).rejects.toThrow();
    }
  });

  it('the scrypt parameters are stored beside the wrapped key, and an out-of-range cost is refused before any work', async () => {
    const alice = await newIdbAccount();
    const meta = (await rawRows(alice.db)).meta as [string, { kdf?: unknown }][];
    expect(meta.find(([key]) => key === 'vault')![1].kdf).toMatchObject({ name: 'scrypt', ...TEST_SCRYPT });
    await transact(alice.db, STORES.meta, 'readwrite', async (tx) => {
      const os = tx.objectStore(STORES.meta);
      const vault = await requestResult(os.get('vault'));
      await requestResult(os.put({ ...vault, kdf: { ...vault.kdf, N: 2 ** 30 } }, 'vault'));
    });
    await expect(Vault.unlock(alice.db, alice.username, TEST_PASSPHRASE)).rejects.toThrow(RangeError);
  });

  it('refuses to make a second vault for an account, and to open one this browser does not have', async () => {
    const alice = await newIdbAccount();
    await expect(Vault.create(alice.db, alice.username, 'another', TEST_SCRYPT)).rejects.toMatchObject({ name: 'BrowserAccountError', code: 'account_exists' });
    await expect(BrowserAccount.create(alice.username, 'another', { scrypt: TEST_SCRYPT })).rejects.toMatchObject({ code: 'account_exists' });
    await expect(BrowserAccount.open(freshAccountName('nobody'), TEST_PASSPHRASE)).rejects.toMatchObject({ code: 'no_account' });
    // Asking did not create a database for the unknown name.
    expect(await BrowserAccount.list()).not.toContain('nobody');
  });
});

describe('records sealed under the vault', () => {
  /** Alice with two incoming messages and a pin for bob. */
  async function aliceWithRecords() {
    const alice = await newIdbAccount();
    const messages = alice.messages();
    await messages.recordIncoming(incoming('m1', 'first secret body'));
    await messages.recordIncoming(incoming('m2', 'second secret body'));
    await alice.peers().put(pin('bob-the-peer'));
    const rows = await transact(alice.db, STORES.messages, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(STORES.messages).getAll()));
    return { alice, messages, rows };
  }

  const putRow = (db: IDBDatabase, store: string, row: SealedRow) => transact(db, store, 'readwrite', (tx) => requestResult(tx.objectStore(store).put(row)));

  it('a record swapped to another key does not open', async () => {
    const { alice, messages, rows } = await aliceWithRecords();
    const [first, second] = rows as [SealedRow, SealedRow];
    await putRow(alice.db, STORES.messages, { ...first, data: second.data });
    await putRow(alice.db, STORES.messages, { ...second, data: first.data });
    await expect(messages.get('m1', 'in')).rejects.toBeInstanceOf(LocalStoreError);
    await expect(messages.get('m2', 'in')).rejects.toBeInstanceOf(LocalStoreError);
  });

  it('a record moved into another store under the same name does not open', async () => {
    const { alice } = await aliceWithRecords();
    const [peerRow] = await transact(alice.db, STORES.peers, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(STORES.peers).getAll()));
    // The pin's row as a session row of the same name and version: the sessions store will not open it.
    await putRow(alice.db, STORES.sessions, { name: peerRow!.name, rev: 1, data: peerRow!.data });
    const sessions = await transact(alice.db, STORES.sessions, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(STORES.sessions).getAll()));
    await expect(alice.vault.sealer.open(STORES.sessions, sessions[0]!.name, sessions[0]!.data)).rejects.toBeInstanceOf(LocalStoreError);
    await expect(alice.vault.sealer.open(STORES.peers, peerRow!.name, peerRow!.data)).resolves.toMatchObject({ username: 'bob-the-peer' });
  });

  it('an altered ciphertext does not open (one flipped bit, anywhere)', async () => {
    const { alice, messages, rows } = await aliceWithRecords();
    const row = rows[0]!;
    for (const at of [0, 12, row.data.length - 1]) {
      const data = new Uint8Array(row.data);
      data[at]! ^= 1;
      await putRow(alice.db, STORES.messages, { ...row, data });
      await expect(messages.get('m1', 'in'), `bit flipped at ${at}`).rejects.toBeInstanceOf(LocalStoreError);
    }
    await putRow(alice.db, STORES.messages, row);
    expect(await messages.get('m1', 'in')).toMatchObject({ body: 'first secret body' });
  });

  it('another vault (another account, or a passphrase reset by making a new vault) opens none of them', async () => {
    const { rows } = await aliceWithRecords();
    const mallory = await newIdbAccount('mallory');
    await expect(mallory.vault.sealer.open(STORES.messages, rows[0]!.name, rows[0]!.data)).rejects.toBeInstanceOf(LocalStoreError);
  });

  it('the database shows neither bodies, nor message ids, nor who the user talks to', async () => {
    const { alice } = await aliceWithRecords();
    const text = await rawText(alice.username);
    for (const secret of ['first secret body', 'bob-the-peer', '"m1"', '"m2"']) expect(text).not.toContain(secret);
    expect(databaseNameOf(alice.username)).toBe(`e2ee-chat/${alice.username}`);
  });
});
