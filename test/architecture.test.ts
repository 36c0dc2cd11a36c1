import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.tsx?$/.test(path) ? [path] : [];
  });
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

/** The only e2ee import allowed in src/server (relative to src/server/). */
const SERVER_ALLOWED_E2EE = '../e2ee/pqxdh/signatures.js';

describe('dependency direction', () => {
  it('the server never imports client or session code (it cannot decrypt)', () => {
    for (const file of sourceFiles(join(root, 'src/server'))) {
      for (const spec of imports(file)) {
        // The one exception: the pure signature checks of PQXDH uploads (prekey service).
        if (spec === SERVER_ALLOWED_E2EE) continue;
        expect(spec, relative(root, file)).not.toMatch(/\/(e2ee|client|cli)\//);
        expect(spec, relative(root, file)).not.toMatch(/^socket\.io-client/);
        // The MLS Delivery Service checks sizes, counts, membership and epochs: it reads no MLS.
        expect(spec, relative(root, file)).not.toMatch(/^(ts-mls|@hpke\/)/);
      }
    }
  });

  it('the one e2ee module the server may import verifies signatures only: it reaches no ratchet, session or secret-key code', () => {
    const file = join(root, 'src/e2ee/pqxdh/signatures.ts');
    // Its imports, and theirs: only encodings, constants and the crypto primitives.
    const seen = new Set<string>();
    const visit = (path: string): void => {
      if (seen.has(path)) return;
      seen.add(path);
      for (const spec of imports(path).filter((s) => s.startsWith('.'))) visit(join(path, '..', spec.replace(/\.js$/, '.ts')));
    };
    visit(file);
    const reached = [...seen].map((p) => relative(root, p)).sort();
    for (const path of reached) expect(path).toMatch(/^src\/(crypto\/[a-z0-9-]+|protocol\/errors|e2ee\/pqxdh\/(signatures|encoding|constants))\.ts$/);
    expect(reached.filter((p) => /ratchet|session|identity|prekeys|respond|initiate/.test(p))).toEqual([]);
  });

  it('crypto, protocol, e2ee and the client core use no Node-only API', () => {
    const neutral = ['src/crypto', 'src/protocol', 'src/e2ee', 'src/client'].flatMap((d) => sourceFiles(join(root, d)));
    // Node-only code lives in node/ folders: the client's durable stores and the crypto's native backend.
    const nodeOnly = [join('src', 'client', 'node'), join('src', 'crypto', 'node')];
    for (const file of neutral.filter((f) => !nodeOnly.some((dir) => f.includes(dir)))) {
      // Comments may name what the code avoids; only code counts.
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const spec of imports(file)) expect(spec, relative(root, file)).not.toMatch(/^node:|^(fs|path|os|crypto|net|http)$/);
      expect(/\bBuffer\b/.test(text), `${relative(root, file)} uses Buffer`).toBe(false);
      expect(/\bprocess\./.test(text), `${relative(root, file)} uses process`).toBe(false);
    }
  });

  it('the browser stores import nothing Node-only, and the runtime-neutral client core does not import them', () => {
    const browserDir = join(root, 'src', 'client', 'browser');
    for (const file of sourceFiles(browserDir)) {
      for (const spec of imports(file)) expect(spec, relative(root, file)).not.toMatch(/(^|\/)(node|cli|server)\//);
    }
    // The core stays usable without IndexedDB (the CLI, tests): only the browser folder knows it.
    const core = sourceFiles(join(root, 'src', 'client')).filter((f) => !f.startsWith(browserDir));
    for (const file of core) for (const spec of imports(file)) expect(spec, relative(root, file)).not.toMatch(/(^|\/)browser\//);
  });

  it('lower layers never import higher ones', () => {
    const order = ['crypto', 'protocol', 'e2ee', 'client'];
    for (const [level, layer] of order.entries()) {
      for (const file of sourceFiles(join(root, 'src', layer))) {
        for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
          for (const higher of order.slice(level + 1)) expect(spec, relative(root, file)).not.toContain(`/${higher}/`);
          expect(spec, relative(root, file)).not.toMatch(/\/(server|cli)\//);
        }
      }
    }
  });

  it('the web app reaches the library through its public entries only (the client, its browser stores, protocol constants), and no Node module', () => {
    const files = sourceFiles(join(root, 'web/src'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      for (const spec of imports(file)) {
        expect(spec, relative(root, file)).not.toMatch(/^node:|^(fs|path|os|crypto|net|http)$/);
        if (!spec.startsWith('.')) continue;
        const target = relative(root, join(file, '..', spec));
        if (target.startsWith('web/')) continue;
        // Everything else from src/: the client library's entry (as a package user has it), its browser
        // stores' entry (IndexedDB, Web Locks), or the wire contract.
        expect(target, relative(root, file)).toMatch(/^src\/(client\/index|client\/browser\/index|protocol\/[a-z0-9-]+)\.js$/);
      }
    }
  });
});
