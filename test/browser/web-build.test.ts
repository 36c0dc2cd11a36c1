/**
 * The built web app (dist/web, `npm run build`) as shipped: one page, hashed files, every one of this
 * origin, and nothing of Node in the bundle. Vite does not fail a browser build that imports a Node
 * module: it puts an empty stand-in (`__vite-browser-external`) in its place, and the page breaks at run
 * time. The library must never need one (docs/ARCHITECTURE.md), so finding it is a failure here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_V2_LABEL } from '../../src/protocol/auth-message.js';
import { WEB_BUILD } from './chromium.js';
import { builtScript, firstVisitScripts, TS_MLS_MARKER, TS_MLS_SOURCE, WEB_DIR } from './web-bundle.js';

describe('the built web app', () => {
  let scripts: string[];
  beforeAll(() => {
    expect(readdirSync(WEB_DIR), `${WEB_BUILD} is missing: run "npm run build"`).toContain('index.html');
    scripts = readdirSync(join(WEB_DIR, 'assets'))
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(WEB_DIR, 'assets', f), 'utf8'));
  });

  it('bundles the client library with no Node module: no stand-in for one, no node: import', () => {
    expect(scripts.length).toBeGreaterThan(0);
    for (const code of scripts) {
      expect(code).not.toContain('__vite-browser-external');
      expect(code).not.toMatch(/(from|import)\s*\(?\s*["']node:/);
    }
    // The library is in it: the label its logins sign (src/protocol/auth-message.ts) is one of its constants.
    expect(scripts.join('\n')).toContain(LOGIN_V2_LABEL);
  });

  it('is one page whose scripts and stylesheets are hashed files of this origin, with nothing inline', () => {
    const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    for (const ref of refs) expect(ref).toMatch(/^\/assets\/[A-Za-z0-9_-]+-[A-Za-z0-9_-]{8}\.(js|css)$/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('stays small enough to load quickly: under 200 KB of gzipped script on a first visit', () => {
    // What a first visit runs: the page's script and what it imports statically. Chunks only ever imported
    // dynamically are fetched when needed, if ever: the group code (ts-mls and our MLS glue, about 39 KB;
    // the first visit was 214 KB with it) once a group needs it (src/client/groups/lazy-group-manager.ts),
    // and ts-mls's other ciphersuites (ML-DSA, Ed448, the NIST curves, ChaCha) never: our groups use one.
    const loaded = firstVisitScripts();
    expect(loaded.size).toBeGreaterThan(0);
    const gzipped = [...loaded].reduce((sum, file) => sum + gzipSync(builtScript(file)).length, 0);
    expect(gzipped).toBeLessThan(200 * 1024);
  });

  it('leaves ts-mls out of a first visit: it is in a chunk loaded only when a group needs it', () => {
    expect(readFileSync(TS_MLS_SOURCE, 'utf8')).toContain(TS_MLS_MARKER);
    const firstVisit = firstVisitScripts();
    for (const file of firstVisit) expect(builtScript(file), file).not.toContain(TS_MLS_MARKER);
    // ...and in the build all the same: the marker survives minifying, so its absence above means something.
    const later = readdirSync(join(WEB_DIR, 'assets')).filter((f) => f.endsWith('.js') && !firstVisit.has(f));
    expect(later.filter((f) => builtScript(f).includes(TS_MLS_MARKER))).not.toEqual([]);
  });
});
