/**
 * The built web app's scripts (dist/web, `npm run build`), as the build and browser tests read them:
 * which ones a first visit runs, and whether one holds ts-mls.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../e2e/processes.js';

export const WEB_DIR = join(REPO_ROOT, 'dist/web');

/**
 * A string of ts-mls's own (the label of its KeyPackage references, RFC 9420 §5.2), none of ours: where
 * it is, ts-mls is. The build test checks it against ts-mls's sources, so a ts-mls without it fails there
 * instead of letting every "not in this script" pass by default.
 */
export const TS_MLS_MARKER = 'MLS 1.0 KeyPackage Reference';
export const TS_MLS_SOURCE = join(REPO_ROOT, 'node_modules/ts-mls/dist/src/keyPackage.js');

/** The text of a built script, by its file name in dist/web/assets. */
export function builtScript(file: string): string {
  return readFileSync(join(WEB_DIR, 'assets', file), 'utf8');
}

/** The scripts a first visit runs (file names): the page's own and, transitively, what they import statically. */
export function firstVisitScripts(): Set<string> {
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
  const pending = [...html.matchAll(/<script[^>]*\ssrc="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]!);
  const loaded = new Set<string>();
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (loaded.has(file)) continue;
    loaded.add(file);
    // Static imports of another chunk, as Vite writes them: `import{…}from"./x.js"` or `import"./x.js"`.
    for (const m of builtScript(file).matchAll(/(?:\bfrom|\bimport)\s*["']\.\/([^"']+\.js)["']/g)) pending.push(m[1]!);
  }
  return loaded;
}
