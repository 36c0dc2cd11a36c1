/**
 * The primary's ledger of tried link codes (stores.ts TriedLinkCodes) in the account's IndexedDB
 * database: one sealed row, `linkCodes` in the meta store, holding the entries claimAmong keeps (a
 * handful; at most MAX_TRIED_LINK_CODES). A claim is compare-and-swap on that row (record-rows.ts): of
 * two claims of one code at once, both compute "claimed" from the same ledger, one writes, and the other
 * finds the row changed, reads it again and is refused. claimAmong has no side effects, so running it
 * again is safe.
 */
import type { TriedLinkCodes } from '../stores.js';
import { checkClaim, claimAmong, MAX_TRIED_LINK_CODES, type TriedLinkCode } from '../tried-link-codes.js';
import { STORES } from './account-database.js';
import { nextRow, updateRows } from './record-rows.js';
import type { RecordSealer } from './record-sealer.js';

const LEDGER = 'linkCodes';

export class IdbTriedLinkCodes implements TriedLinkCodes {
  private readonly maxEntries: number;

  constructor(
    private readonly db: IDBDatabase,
    private readonly sealer: RecordSealer,
    options: { maxEntries?: number } = {},
  ) {
    this.maxEntries = options.maxEntries ?? MAX_TRIED_LINK_CODES;
  }

  async claim(codeHash: string, now: number, ttlMs: number): Promise<boolean> {
    checkClaim(codeHash, now, ttlMs); // before any read: a bad call touches nothing
    return updateRows(this.db, [STORES.meta], [{ store: STORES.meta, name: LEDGER }], async ([row]) => {
      const tried = row ? await this.sealer.open<TriedLinkCode[]>(STORES.meta, LEDGER, row.data) : [];
      const { claimed, entries } = claimAmong(tried, codeHash, now, ttlMs, this.maxEntries);
      if (!claimed) return { writes: [], result: false };
      return { writes: [{ store: STORES.meta, put: nextRow(row, LEDGER, await this.sealer.seal(STORES.meta, LEDGER, entries)) }], result: true };
    });
  }
}
