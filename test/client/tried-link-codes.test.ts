/**
 * The primary's ledger of tried link codes (docs/design/devices-v2.md §6.6; src/client/stores.ts
 * TriedLinkCodes): each code runs once within LINK_TTL_MS, across every process of the user. The
 * contract runs against the memory and the file store; the file's own behaviour (two processes,
 * reopening, its format and a damaged file) follows. Time is an argument: no test waits.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTriedLinkCodes } from '../../src/client/memory-stores.js';
import { FileTriedLinkCodes } from '../../src/client/node/tried-link-codes-file.js';
import { userFolder } from '../../src/client/node/user-folder.js';
import type { TriedLinkCodes } from '../../src/client/stores.js';
import { claimAmong, MAX_TRIED_LINK_CODES, type TriedLinkCode } from '../../src/client/tried-link-codes.js';
import { linkCodeHash } from '../../src/e2ee/link/link-code.js';
import { ChatError } from '../../src/protocol/errors.js';
import { LINK_TTL_MS } from '../../src/protocol/limits.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** `link-codes.json` in a fresh user folder (the folder itself is created by the first claim). */
function ledgerPath(): string {
  const home = mkdtempSync(join(tmpdir(), 'e2ee-chat-link-codes-'));
  dirs.push(home);
  return userFolder(home, 'alice').linkCodesFile;
}

/** The hash of a distinct code per `n`. */
const code = (n: number): string => linkCodeHash({ slot: String(100 + n), secret: 'K7QM9TZC' });

const TTL = LINK_TTL_MS;
const T0 = 1_795_776_494_638;

const stores: Array<[string, (options?: { maxEntries?: number }) => Promise<TriedLinkCodes>]> = [
  ['memory', async (options) => new MemoryTriedLinkCodes(options)],
  ['file', async (options) => new FileTriedLinkCodes(ledgerPath(), options)],
  ['indexeddb', async (options) => (await newIdbAccount()).triedLinkCodes(options)],
];

describe.each(stores)('%s link-code ledger', (_name, make) => {
  it('claims a code once: a second claim within the ttl is refused', async () => {
    const ledger = await make();
    expect(await ledger.claim(code(1), T0, TTL)).toBe(true);
    expect(await ledger.claim(code(1), T0 + 1, TTL)).toBe(false);
    expect(await ledger.claim(code(1), T0 + TTL - 1, TTL)).toBe(false);
  });

  it('claims a code again once the ttl has passed since its claim; a refused try does not restart the ttl', async () => {
    const ledger = await make();
    expect(await ledger.claim(code(1), T0, TTL)).toBe(true);
    expect(await ledger.claim(code(1), T0 + TTL - 1, TTL)).toBe(false);
    expect(await ledger.claim(code(1), T0 + TTL, TTL)).toBe(true);
    expect(await ledger.claim(code(1), T0 + TTL + 1, TTL)).toBe(false);
  });

  it('keeps codes apart: another code, or the same secret on another slot, is claimed on its own', async () => {
    const ledger = await make();
    expect(await ledger.claim(code(1), T0, TTL)).toBe(true);
    expect(await ledger.claim(code(2), T0, TTL)).toBe(true);
    expect(await ledger.claim(code(1), T0, TTL)).toBe(false);
    expect(await ledger.claim(code(2), T0, TTL)).toBe(false);
  });

  it('keeps a code refused when the clock goes back', async () => {
    const ledger = await make();
    expect(await ledger.claim(code(1), T0, TTL)).toBe(true);
    expect(await ledger.claim(code(1), T0 - 3 * TTL, TTL)).toBe(false);
  });

  it('claims one code once when the claims come at once', async () => {
    const ledger = await make();
    const results = await Promise.all(Array.from({ length: 8 }, () => ledger.claim(code(1), T0, TTL)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('past its cap forgets the oldest claims and never refuses a new code', async () => {
    const ledger = await make({ maxEntries: 3 });
    for (const n of [1, 2, 3, 4]) expect(await ledger.claim(code(n), T0 + n, TTL)).toBe(true);
    for (const n of [2, 3, 4]) expect(await ledger.claim(code(n), T0 + 10, TTL)).toBe(false);
    expect(await ledger.claim(code(1), T0 + 10, TTL)).toBe(true);
  });

  it('refuses malformed arguments', async () => {
    const ledger = await make();
    await expect(ledger.claim('417-K7QM-9TZC', T0, TTL)).rejects.toThrow(TypeError);
    await expect(ledger.claim(code(1), -1, TTL)).rejects.toThrow(RangeError);
    await expect(ledger.claim(code(1), T0, 0)).rejects.toThrow(RangeError);
    await expect(ledger.claim(code(1), T0 + 0.5, TTL)).rejects.toThrow(RangeError);
    // None of them recorded anything.
    expect(await ledger.claim(code(1), T0, TTL)).toBe(true);
  });
});

describe('the claim rule shared by both stores', () => {
  const entry = (n: number, at: number): TriedLinkCode => ({ hash: code(n), at });

  it('drops the entries the ttl has passed and appends the new one', () => {
    const before = [entry(1, T0), entry(2, T0 + 10)];
    const { claimed, entries } = claimAmong(before, code(3), T0 + TTL + 5, TTL);
    expect(claimed).toBe(true);
    expect(entries).toEqual([entry(2, T0 + 10), entry(3, T0 + TTL + 5)]);
    expect(before).toHaveLength(2); // the input is not changed
  });

  it('answers a refused claim with the entries as they were, expired ones included', () => {
    const before = [entry(1, T0), entry(2, T0 + TTL)];
    const result = claimAmong(before, code(2), T0 + TTL + 1, TTL);
    expect(result).toEqual({ claimed: false, entries: before });
    expect(result.entries).toBe(before);
  });

  it(`keeps at most ${MAX_TRIED_LINK_CODES} entries by default, the newest`, () => {
    let entries: readonly TriedLinkCode[] = [];
    for (let n = 0; n <= MAX_TRIED_LINK_CODES; n++) entries = claimAmong(entries, code(n), T0 + n, TTL).entries;
    expect(entries).toHaveLength(MAX_TRIED_LINK_CODES);
    expect(entries[0]).toEqual(entry(1, T0 + 1));
    expect(entries.at(-1)).toEqual(entry(MAX_TRIED_LINK_CODES, T0 + MAX_TRIED_LINK_CODES));
  });
});

describe('file link-code ledger', () => {
  it('is link-codes.json in the user folder', () => {
    expect(userFolder('/home/x/.e2ee-chat', 'alice').linkCodesFile).toBe(join('/home/x/.e2ee-chat', 'alice', 'link-codes.json'));
  });

  it("two stores on one folder (two processes) see each other's claims, and of concurrent claims of one code one wins", async () => {
    const path = ledgerPath();
    const first = new FileTriedLinkCodes(path);
    const second = new FileTriedLinkCodes(path);
    expect(await first.claim(code(1), T0, TTL)).toBe(true);
    expect(await second.claim(code(1), T0 + 1, TTL)).toBe(false);
    expect(await second.claim(code(2), T0 + 2, TTL)).toBe(true);
    expect(await first.claim(code(2), T0 + 3, TTL)).toBe(false);
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? first : second).claim(code(3), T0 + 4, TTL)));
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('survives reopening', async () => {
    const path = ledgerPath();
    expect(await new FileTriedLinkCodes(path).claim(code(1), T0, TTL)).toBe(true);
    expect(await new FileTriedLinkCodes(path).claim(code(1), T0 + 1, TTL)).toBe(false);
  });

  it('writes version 1 JSON of hashes and times, oldest first, pruned on every claim, readable by its owner only', async () => {
    const path = ledgerPath();
    const ledger = new FileTriedLinkCodes(path);
    await ledger.claim(code(1), T0, TTL);
    await ledger.claim(code(2), T0 + 10, TTL);
    await ledger.claim(code(3), T0 + TTL + 5, TTL);
    const text = readFileSync(path, 'utf8');
    expect(JSON.parse(text)).toEqual({
      v: 1,
      tried: [
        { hash: code(2), at: T0 + 10 },
        { hash: code(3), at: T0 + TTL + 5 },
      ],
    });
    expect(text).not.toContain('K7QM');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['not JSON', '{"v":1,"tried":[', /is not valid JSON; move it away or delete it/],
    ['another version', '{"v":2,"tried":[]}', /has version 2; this e2ee-chat reads version 1 only/],
    ['no version', '[]', /has version undefined; this e2ee-chat reads version 1 only/],
    ['a malformed entry', '{"v":1,"tried":[{"hash":"417-K7QM-9TZC","at":1}]}', /link-codes\.json: tried\.0\.hash: .*; move it away or delete it/],
    ['an unknown member', '{"v":1,"tried":[],"more":true}', /link-codes\.json: file: .*; move it away or delete it/],
  ])('refuses a file with %s, naming it and what to do, and leaves it as it was', async (_what, content, message) => {
    const path = ledgerPath();
    await new FileTriedLinkCodes(path).claim(code(9), T0, TTL); // makes the folder
    writeFileSync(path, content);
    const claim = new FileTriedLinkCodes(path).claim(code(1), T0, TTL);
    await expect(claim).rejects.toThrow(ChatError);
    await expect(claim).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    expect(readFileSync(path, 'utf8')).toBe(content);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});
