/** The in-memory prekey directory: same semantics as sqlite-prekeys.ts, for tests and the memory store. */
import type { IdentityKeyWire, KemPreKeyWire, OneTimePreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';
import { checkOneTimePreKeyLimit } from './prekey-limit.js';
import type { PreKeyUpload, TakenPreKeyBundle } from './server-store.js';

interface Published {
  identity: IdentityKeyWire;
  signedPreKey?: SignedPreKeyWire;
  lastResort?: KemPreKeyWire;
  oneTime: Map<number, OneTimePreKeyWire>;
  kemOneTime: Map<number, KemPreKeyWire>;
}

/** The entry with the lowest id, removed (the SQLite store hands keys out in the same order). */
function takeLowest<T>(map: Map<number, T>): T | undefined {
  if (map.size === 0) return undefined;
  const id = Math.min(...map.keys());
  const value = map.get(id);
  map.delete(id);
  return value;
}

const sortedIds = (map: Map<number, unknown> | undefined) => [...(map?.keys() ?? [])].sort((a, b) => a - b);

export class MemoryPreKeyDirectory {
  private readonly users = new Map<string, Published>();

  put(username: string, upload: PreKeyUpload): PreKeyCountResult {
    let entry = this.users.get(username);
    const sameIdentity = entry?.identity.dhKey === upload.identity.dhKey;
    checkOneTimePreKeyLimit('X25519', new Set(sameIdentity ? entry!.oneTime.keys() : []), upload.oneTimePreKeys);
    checkOneTimePreKeyLimit('ML-KEM', new Set(sameIdentity ? entry!.kemOneTime.keys() : []), upload.kemPreKeys);
    if (!entry || !sameIdentity) {
      entry = { identity: upload.identity, oneTime: new Map(), kemOneTime: new Map() };
      this.users.set(username, entry);
    }
    entry.identity = upload.identity;
    if (upload.signedPreKey) entry.signedPreKey = upload.signedPreKey;
    if (upload.lastResortKemPreKey) entry.lastResort = upload.lastResortKemPreKey;
    for (const k of upload.oneTimePreKeys) entry.oneTime.set(k.id, k);
    for (const k of upload.kemPreKeys) entry.kemOneTime.set(k.id, k);
    return this.counts(username);
  }

  counts(username: string): PreKeyCountResult {
    const entry = this.users.get(username);
    return {
      identityKey: entry?.identity.dhKey ?? null,
      signedPreKeyId: entry?.signedPreKey?.id ?? null,
      lastResortKemPreKeyId: entry?.lastResort?.id ?? null,
      oneTime: entry?.oneTime.size ?? 0,
      kemOneTime: entry?.kemOneTime.size ?? 0,
      oneTimeIds: sortedIds(entry?.oneTime),
      kemOneTimeIds: sortedIds(entry?.kemOneTime),
    };
  }

  take(username: string): TakenPreKeyBundle | undefined {
    const entry = this.users.get(username);
    if (!entry?.signedPreKey || !entry.lastResort) return undefined;
    const oneTimePreKey = takeLowest(entry.oneTime);
    return {
      identity: entry.identity,
      signedPreKey: entry.signedPreKey,
      kemPreKey: takeLowest(entry.kemOneTime) ?? entry.lastResort,
      ...(oneTimePreKey ? { oneTimePreKey } : {}),
      remaining: { oneTime: entry.oneTime.size, kemOneTime: entry.kemOneTime.size },
    };
  }
}
