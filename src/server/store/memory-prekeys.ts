/** The in-memory prekey directory, one set per device: same semantics as sqlite-prekeys.ts, for tests and the memory store. */
import type { IdentityKeyWire, KemPreKeyWire, OneTimePreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';
import { checkOneTimePreKeyLimit } from './prekey-limit.js';
import type { PreKeyUpload, TakenPreKeyBundle, TakenPreKeyBundles } from './server-store.js';

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

const address = (username: string, device: number) => `${username}\n${device}`;

const sortedIds = (map: Map<number, unknown> | undefined) => [...(map?.keys() ?? [])].sort((a, b) => a - b);

export class MemoryPreKeyDirectory {
  /** Keyed by address. */
  private readonly devices = new Map<string, Published>();

  put(username: string, device: number, upload: PreKeyUpload): PreKeyCountResult {
    const key = address(username, device);
    let entry = this.devices.get(key);
    const sameIdentity = entry?.identity.dhKey === upload.identity.dhKey;
    checkOneTimePreKeyLimit('X25519', new Set(sameIdentity ? entry!.oneTime.keys() : []), upload.oneTimePreKeys);
    checkOneTimePreKeyLimit('ML-KEM', new Set(sameIdentity ? entry!.kemOneTime.keys() : []), upload.kemPreKeys);
    if (!entry || !sameIdentity) {
      entry = { identity: upload.identity, oneTime: new Map(), kemOneTime: new Map() };
      this.devices.set(key, entry);
    }
    entry.identity = upload.identity;
    if (upload.signedPreKey) entry.signedPreKey = upload.signedPreKey;
    if (upload.lastResortKemPreKey) entry.lastResort = upload.lastResortKemPreKey;
    for (const k of upload.oneTimePreKeys) entry.oneTime.set(k.id, k);
    for (const k of upload.kemPreKeys) entry.kemOneTime.set(k.id, k);
    return this.counts(username, device);
  }

  counts(username: string, device: number): PreKeyCountResult {
    const entry = this.devices.get(address(username, device));
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

  /** Nothing is taken unless every device asked has a bundle. */
  takeMany(username: string, devices: readonly number[]): TakenPreKeyBundles {
    const entries = devices.map((device) => this.devices.get(address(username, device)));
    const missing = devices.filter((_, k) => !entries[k]?.signedPreKey || !entries[k]?.lastResort);
    if (missing.length > 0) return { status: 'missing', devices: missing };
    return { status: 'taken', bundles: devices.map((device, k) => take(device, entries[k]!)) };
  }

  remove(username: string, device: number): void {
    this.devices.delete(address(username, device));
  }
}

function take(device: number, entry: Published): TakenPreKeyBundle {
  const oneTimePreKey = takeLowest(entry.oneTime);
  return {
    device,
    identity: entry.identity,
    signedPreKey: entry.signedPreKey!,
    kemPreKey: takeLowest(entry.kemOneTime) ?? entry.lastResort!,
    ...(oneTimePreKey ? { oneTimePreKey } : {}),
    remaining: { oneTime: entry.oneTime.size, kemOneTime: entry.kemOneTime.size },
  };
}
