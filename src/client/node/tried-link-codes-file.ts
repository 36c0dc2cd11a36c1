/**
 * Node-only: the primary's ledger of tried link codes (stores.ts TriedLinkCodes; docs/design/devices-v2.md
 * §6.6), `link-codes.json` in the user's folder. Each claim is a read-modify-write under the folder's
 * lock file and an atomic rewrite, as peers.json: two `devices approve` of one code in two terminals
 * run it once. Plain JSON, versioned: it holds hashes and times, nothing secret.
 *
 *   {"v":1,"tried":[{"hash":"<43 base64url: linkCodeHash>","at":<ms since epoch>}, …]}   oldest claim first
 */
import { z } from 'zod';
import { LINK_CODE_HASH_PATTERN } from '../../e2ee/link/link-code.js';
import { ChatError } from '../../protocol/errors.js';
import { LINK_TTL_MS } from '../../protocol/limits.js';
import type { TriedLinkCodes } from '../stores.js';
import { checkClaim, claimAmong, MAX_TRIED_LINK_CODES, type TriedLinkCode } from '../tried-link-codes.js';
import { readJsonFile, withFileLock, writeFileAtomic } from './atomic-file.js';

const LEDGER_VERSION = 1;

const ledgerFileSchema = z
  .object({
    v: z.literal(LEDGER_VERSION),
    tried: z.array(z.object({ hash: z.string().regex(LINK_CODE_HASH_PATTERN), at: z.number().int().nonnegative() }).strict()),
  })
  .strict();

export class FileTriedLinkCodes implements TriedLinkCodes {
  private readonly maxEntries: number;

  constructor(
    private readonly path: string,
    options: { maxEntries?: number } = {},
  ) {
    this.maxEntries = options.maxEntries ?? MAX_TRIED_LINK_CODES;
  }

  async claim(codeHash: string, now: number, ttlMs: number): Promise<boolean> {
    checkClaim(codeHash, now, ttlMs); // before taking the lock: a bad call touches no file
    return withFileLock(this.path, async () => {
      const { claimed, entries } = claimAmong(await this.read(), codeHash, now, ttlMs, this.maxEntries);
      if (claimed) await writeFileAtomic(this.path, `${JSON.stringify({ v: LEDGER_VERSION, tried: entries })}\n`);
      return claimed;
    });
  }

  /** The entries on disk; none when there is no file yet. A file this version cannot read stops the approval. */
  private async read(): Promise<readonly TriedLinkCode[]> {
    // Deleting the file forgets which codes were tried: safe once LINK_TTL_MS has passed since the last
    // approval, as no slot of those codes can still be open.
    const fix = `move it away or delete it, ${LINK_TTL_MS / 60_000} minutes after the last "devices approve" at the earliest (it holds the codes tried that long)`;
    let raw: unknown;
    try {
      raw = await readJsonFile<unknown>(this.path);
    } catch (cause) {
      throw new ChatError('bad_request', `${this.path} is not valid JSON; ${fix}`, { cause });
    }
    if (raw === undefined) return [];
    const version = typeof raw === 'object' && raw !== null && 'v' in raw ? raw.v : undefined;
    if (version !== LEDGER_VERSION) {
      throw new ChatError('bad_request', `${this.path} has version ${JSON.stringify(version)}; this e2ee-chat reads version ${LEDGER_VERSION} only (${fix})`);
    }
    const parsed = ledgerFileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ChatError('bad_request', `${this.path}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}; ${fix}`);
    }
    return parsed.data.tried;
  }
}
