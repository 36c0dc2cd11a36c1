/**
 * Where the Wycheproof vector files are. They are not copied into this repository; they sit in the
 * workplace's shared folder beside it (C2SP/wycheproof testvectors_v1, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166). A clone may live anywhere, so look in order:
 *   1. $E2EE_CHAT_WYCHEPROOF_DIR
 *   2. ../shared/vectors/wycheproof next to the repository
 *   3. /work/shared/vectors/wycheproof
 * When none exists the first candidate is returned, and the loader fails naming it.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..', '..');

export function wycheproofDir(): string {
  const candidates = [
    process.env.E2EE_CHAT_WYCHEPROOF_DIR,
    join(repoRoot, '..', 'shared', 'vectors', 'wycheproof'),
    '/work/shared/vectors/wycheproof',
  ].filter((c): c is string => typeof c === 'string' && c !== '');
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export function wycheproofFile(name: string): URL {
  return pathToFileURL(join(wycheproofDir(), name));
}
