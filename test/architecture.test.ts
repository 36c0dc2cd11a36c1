import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

describe('dependency direction', () => {
  it('the server never imports client or session code (it cannot decrypt)', () => {
    for (const file of sourceFiles(join(root, 'src/server'))) {
      for (const spec of imports(file)) {
        expect(spec, relative(root, file)).not.toMatch(/\/(e2ee|client|cli)\//);
        expect(spec, relative(root, file)).not.toMatch(/^socket\.io-client/);
      }
    }
  });

  it('crypto, protocol, e2ee and the client core use no Node-only API', () => {
    const neutral = ['src/crypto', 'src/protocol', 'src/e2ee', 'src/client'].flatMap((d) => sourceFiles(join(root, d)));
    for (const file of neutral.filter((f) => !f.includes(`${join('src', 'client', 'node')}`))) {
      // Comments may name what the code avoids; only code counts.
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const spec of imports(file)) expect(spec, relative(root, file)).not.toMatch(/^node:|^(fs|path|os|crypto|net|http)$/);
      expect(/\bBuffer\b/.test(text), `${relative(root, file)} uses Buffer`).toBe(false);
      expect(/\bprocess\./.test(text), `${relative(root, file)} uses process`).toBe(false);
    }
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
});
