/** The in-memory KeyPackage directory: same semantics as sqlite-key-packages.ts. */
import type { ClaimedKeyPackageRecord, PutKeyPackagesResult } from './group-records.js';

interface DevicePackages {
  oneTime: string[];
  lastResort: string | null;
}

export class MemoryKeyPackages {
  private readonly byAddress = new Map<string, DevicePackages>();

  private of(username: string, device: number): DevicePackages {
    const k = `${username}\n${device}`;
    let entry = this.byAddress.get(k);
    if (!entry) this.byAddress.set(k, (entry = { oneTime: [], lastResort: null }));
    return entry;
  }

  put(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number): PutKeyPackagesResult {
    const entry = this.of(username, device);
    if (entry.oneTime.length + packages.length > maxStored) return { status: 'limit', oneTime: entry.oneTime.length };
    entry.oneTime.push(...packages);
    if (lastResort !== undefined) entry.lastResort = lastResort;
    return { status: 'stored', stored: packages.length, oneTime: entry.oneTime.length };
  }

  counts(username: string, device: number): { oneTime: number; lastResort: boolean } {
    const entry = this.of(username, device);
    return { oneTime: entry.oneTime.length, lastResort: entry.lastResort !== null };
  }

  claim(username: string, devices: readonly number[]): ClaimedKeyPackageRecord[] {
    const out: ClaimedKeyPackageRecord[] = [];
    for (const device of devices) {
      const entry = this.of(username, device);
      const oneTime = entry.oneTime.shift();
      if (oneTime !== undefined) out.push({ device, keyPackage: oneTime, lastResort: false, remaining: entry.oneTime.length });
      else if (entry.lastResort !== null) out.push({ device, keyPackage: entry.lastResort, lastResort: true, remaining: 0 });
    }
    return out;
  }

  /** A device left its user's list: its packages go with it. */
  remove(username: string, device: number): void {
    this.byAddress.delete(`${username}\n${device}`);
  }
}
