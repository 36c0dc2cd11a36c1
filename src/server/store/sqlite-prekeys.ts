/**
 * The prekey tables of the SQLite store (migration 3). Statements only: the caller runs each method
 * inside its write transaction, so a bundle's one-time keys are removed and returned in one commit and
 * two concurrent fetches can never both get the same key.
 */
import type Database from 'better-sqlite3';
import type { KemPreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';
import { checkOneTimePreKeyLimit } from './prekey-limit.js';
import type { PreKeyUpload, TakenPreKeyBundle } from './server-store.js';

type Kind = 'x25519' | 'mlkem1024';

interface IdentityRow {
  identity_key: string;
  binding: string;
  signed_prekey: string | null;
  last_resort_kem_prekey: string | null;
}

interface OneTimeRow {
  id: number;
  public_key: string;
  signature: string | null;
}

const parse = <T>(json: string | null): T | undefined => (json === null ? undefined : (JSON.parse(json) as T));

export class SqlitePreKeyTables {
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      selectIdentity: db.prepare<[string], IdentityRow>('SELECT identity_key, binding, signed_prekey, last_resort_kem_prekey FROM prekey_identities WHERE username = ?'),
      upsertIdentity: db.prepare(
        `INSERT INTO prekey_identities (username, identity_key, binding, signed_prekey, last_resort_kem_prekey, updated_at)
         VALUES (@username, @identity_key, @binding, @signed_prekey, @last_resort_kem_prekey, @updated_at)
         ON CONFLICT (username) DO UPDATE SET identity_key = excluded.identity_key, binding = excluded.binding,
           signed_prekey = excluded.signed_prekey, last_resort_kem_prekey = excluded.last_resort_kem_prekey, updated_at = excluded.updated_at`,
      ),
      deleteOneTime: db.prepare('DELETE FROM one_time_prekeys WHERE username = ?'),
      upsertOneTime: db.prepare(
        `INSERT INTO one_time_prekeys (username, kind, id, public_key, signature) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (username, kind, id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`,
      ),
      countOneTime: db.prepare<[string, Kind], { n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE username = ? AND kind = ?'),
      oneTimeIds: db.prepare<[string, Kind], { id: number }>('SELECT id FROM one_time_prekeys WHERE username = ? AND kind = ? ORDER BY id'),
      takeOneTime: db.prepare<[string, Kind, string, Kind], OneTimeRow>(
        `DELETE FROM one_time_prekeys WHERE username = ? AND kind = ? AND id =
           (SELECT id FROM one_time_prekeys WHERE username = ? AND kind = ? ORDER BY id LIMIT 1)
         RETURNING id, public_key, signature`,
      ),
    };
  }

  /** Call inside a write transaction. */
  put(username: string, upload: PreKeyUpload, now: number): PreKeyCountResult {
    const row = this.sql.selectIdentity.get(username);
    const sameIdentity = row?.identity_key === upload.identity.dhKey;
    // Checked before anything is written, in this transaction: a refused upload changes nothing.
    const kept = (kind: Kind) => new Set(sameIdentity ? this.ids(username, kind) : []);
    checkOneTimePreKeyLimit('X25519', kept('x25519'), upload.oneTimePreKeys);
    checkOneTimePreKeyLimit('ML-KEM', kept('mlkem1024'), upload.kemPreKeys);
    if (row && !sameIdentity) this.sql.deleteOneTime.run(username);
    const signed = upload.signedPreKey ?? (sameIdentity ? parse<SignedPreKeyWire>(row.signed_prekey) : undefined);
    const lastResort = upload.lastResortKemPreKey ?? (sameIdentity ? parse<KemPreKeyWire>(row.last_resort_kem_prekey) : undefined);
    this.sql.upsertIdentity.run({
      username,
      identity_key: upload.identity.dhKey,
      binding: upload.identity.binding,
      signed_prekey: signed ? JSON.stringify(signed) : null,
      last_resort_kem_prekey: lastResort ? JSON.stringify(lastResort) : null,
      updated_at: now,
    });
    for (const k of upload.oneTimePreKeys) this.sql.upsertOneTime.run(username, 'x25519', k.id, k.publicKey, null);
    for (const k of upload.kemPreKeys) this.sql.upsertOneTime.run(username, 'mlkem1024', k.id, k.publicKey, k.signature);
    return this.counts(username);
  }

  counts(username: string): PreKeyCountResult {
    const row = this.sql.selectIdentity.get(username);
    const oneTimeIds = this.ids(username, 'x25519');
    const kemOneTimeIds = this.ids(username, 'mlkem1024');
    return {
      identityKey: row?.identity_key ?? null,
      signedPreKeyId: parse<SignedPreKeyWire>(row?.signed_prekey ?? null)?.id ?? null,
      lastResortKemPreKeyId: parse<KemPreKeyWire>(row?.last_resort_kem_prekey ?? null)?.id ?? null,
      oneTime: oneTimeIds.length,
      kemOneTime: kemOneTimeIds.length,
      oneTimeIds,
      kemOneTimeIds,
    };
  }

  private ids(username: string, kind: Kind): number[] {
    return this.sql.oneTimeIds.all(username, kind).map((r) => r.id);
  }

  /** Call inside a write transaction. */
  take(username: string): TakenPreKeyBundle | undefined {
    const row = this.sql.selectIdentity.get(username);
    const signedPreKey = parse<SignedPreKeyWire>(row?.signed_prekey ?? null);
    const lastResort = parse<KemPreKeyWire>(row?.last_resort_kem_prekey ?? null);
    if (!row || !signedPreKey || !lastResort) return undefined;
    const oneTime = this.sql.takeOneTime.get(username, 'x25519', username, 'x25519');
    const kem = this.sql.takeOneTime.get(username, 'mlkem1024', username, 'mlkem1024');
    return {
      identity: { dhKey: row.identity_key, binding: row.binding },
      signedPreKey,
      kemPreKey: kem ? { id: kem.id, publicKey: kem.public_key, signature: kem.signature! } : lastResort,
      ...(oneTime ? { oneTimePreKey: { id: oneTime.id, publicKey: oneTime.public_key } } : {}),
      remaining: { oneTime: this.sql.countOneTime.get(username, 'x25519')!.n, kemOneTime: this.sql.countOneTime.get(username, 'mlkem1024')!.n },
    };
  }
}
