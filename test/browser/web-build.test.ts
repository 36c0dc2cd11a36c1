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
import { REPO_ROOT } from '../e2e/processes.js';
import { WEB_BUILD } from './chromium.js';

const WEB_DIR = join(REPO_ROOT, 'dist/web');

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

  it('stays small enough to load quickly: under 200 KB of gzipped script', () => {
    const gzipped = scripts.reduce((sum, code) => sum + gzipSync(code).length, 0);
    expect(gzipped).toBeLessThan(200 * 1024);
  });
});
