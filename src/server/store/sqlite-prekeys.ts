/**
 * The prekey tables of the SQLite store (migrations 3 and 6), one set per device. Statements only: the
 * caller runs each method inside its write transaction, so a bundle's one-time keys are removed and
 * returned in one commit and two concurrent fetches can never both get the same key.
 */
import type Database from 'better-sqlite3';
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { checkOneTimePreKeyLimit } from './prekey-limit.js';
import type { PreKeyUpload, TakenPreKeyBundle, TakenPreKeyBundles } from './server-store.js';
import { lastResortOf, preKeyCountsOf, publishedFromRow, signedPreKeyOf, type IdentityRow, type OneTimeRow, type PreKeyKind as Kind, type Published } from './sql-rows.js';

export class SqlitePreKeyTables {
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      selectIdentity: db.prepare<[string, number], IdentityRow>(
        'SELECT identity_key, binding, signed_prekey, last_resort_kem_prekey FROM prekey_identities WHERE username = ? AND device_id = ?',
      ),
      upsertIdentity: db.prepare(
        `INSERT INTO prekey_identities (username, device_id, identity_key, binding, signed_prekey, last_resort_kem_prekey, updated_at)
         VALUES (@username, @device, @identity_key, @binding, @signed_prekey, @last_resort_kem_prekey, @updated_at)
         ON CONFLICT (username, device_id) DO UPDATE SET identity_key = excluded.identity_key, binding = excluded.binding,
           signed_prekey = excluded.signed_prekey, last_resort_kem_prekey = excluded.last_resort_kem_prekey, updated_at = excluded.updated_at`,
      ),
      deleteIdentity: db.prepare('DELETE FROM prekey_identities WHERE username = ? AND device_id = ?'),
      deleteOneTime: db.prepare('DELETE FROM one_time_prekeys WHERE username = ? AND device_id = ?'),
      upsertOneTime: db.prepare(
        `INSERT INTO one_time_prekeys (username, device_id, kind, id, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (username, device_id, kind, id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`,
      ),
      countOneTime: db.prepare<[string, number, Kind], { n: number }>(
        'SELECT count(*) AS n FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ?',
      ),
      oneTimeIds: db.prepare<[string, number, Kind], { id: number }>(
        'SELECT id FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? ORDER BY id',
      ),
      takeOneTime: db.prepare<[string, number, Kind, string, number, Kind], OneTimeRow>(
        `DELETE FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? AND id =
           (SELECT id FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? ORDER BY id LIMIT 1)
         RETURNING id, public_key, signature`,
      ),
    };
  }

  /** Call inside a write transaction. */
  put(username: string, device: number, upload: PreKeyUpload, now: number): PreKeyCountResult {
    const row = this.sql.selectIdentity.get(username, device);
    const sameIdentity = row?.identity_key === upload.identity.dhKey;
    // Checked before anything is written, in this transaction: a refused upload changes nothing.
    const kept = (kind: Kind) => new Set(sameIdentity ? this.ids(username, device, kind) : []);
    checkOneTimePreKeyLimit('X25519', kept('x25519'), upload.oneTimePreKeys);
    checkOneTimePreKeyLimit('ML-KEM', kept('mlkem1024'), upload.kemPreKeys);
    if (row && !sameIdentity) this.sql.deleteOneTime.run(username, device);
    const signed = upload.signedPreKey ?? (sameIdentity ? signedPreKeyOf(row) : undefined);
    const lastResort = upload.lastResortKemPreKey ?? (sameIdentity ? lastResortOf(row) : undefined);
    this.sql.upsertIdentity.run({
      username,
      device,
      identity_key: upload.identity.dhKey,
      binding: upload.identity.binding,
      signed_prekey: signed ? JSON.stringify(signed) : null,
      last_resort_kem_prekey: lastResort ? JSON.stringify(lastResort) : null,
      updated_at: now,
    });
    for (const k of upload.oneTimePreKeys) this.sql.upsertOneTime.run(username, device, 'x25519', k.id, k.publicKey, null);
    for (const k of upload.kemPreKeys) this.sql.upsertOneTime.run(username, device, 'mlkem1024', k.id, k.publicKey, k.signature);
    return this.counts(username, device);
  }

  counts(username: string, device: number): PreKeyCountResult {
    return preKeyCountsOf(this.sql.selectIdentity.get(username, device), this.ids(username, device, 'x25519'), this.ids(username, device, 'mlkem1024'));
  }

  private ids(username: string, device: number, kind: Kind): number[] {
    return this.sql.oneTimeIds.all(username, device, kind).map((r) => r.id);
  }

  /** Call inside a write transaction. Nothing is taken unless every device asked has a bundle. */
  takeMany(username: string, devices: readonly number[]): TakenPreKeyBundles {
    const published = devices.map((device) => this.published(username, device));
    const missing = devices.filter((_, k) => !published[k]);
    if (missing.length > 0) return { status: 'missing', devices: missing };
    return { status: 'taken', bundles: devices.map((device, k) => this.take(username, device, published[k]!)) };
  }

  /** The long-lived keys a bundle needs, or undefined while the device lacks its signed or last-resort key. */
  private published(username: string, device: number): Published | undefined {
    return publishedFromRow(this.sql.selectIdentity.get(username, device));
  }

  private take(username: string, device: number, published: Published): TakenPreKeyBundle {
    const oneTime = this.sql.takeOneTime.get(username, device, 'x25519', username, device, 'x25519');
    const kem = this.sql.takeOneTime.get(username, device, 'mlkem1024', username, device, 'mlkem1024');
    return {
      device,
      identity: published.identity,
      signedPreKey: published.signedPreKey,
      kemPreKey: kem ? { id: kem.id, publicKey: kem.public_key, signature: kem.signature! } : published.lastResort,
      ...(oneTime ? { oneTimePreKey: { id: oneTime.id, publicKey: oneTime.public_key } } : {}),
      remaining: {
        oneTime: this.sql.countOneTime.get(username, device, 'x25519')!.n,
        kemOneTime: this.sql.countOneTime.get(username, device, 'mlkem1024')!.n,
      },
    };
  }

  /** Call inside a write transaction: everything a removed device published. */
  remove(username: string, device: number): void {
    this.sql.deleteIdentity.run(username, device);
    this.sql.deleteOneTime.run(username, device);
  }
}
