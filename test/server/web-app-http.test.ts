/**
 * The relay's web routes (src/server/web/) against a build of our own in a temporary folder: what is
 * served, with which headers, and that nothing else is: no path (dot segments, encoded or not, symlinks,
 * dotfiles, unknown extensions) reaches a file outside the build's map, unknown paths are 404, and a
 * server without a build says so at `/`.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../src/server/web/security-headers.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const INDEX = '<!doctype html><title>t</title><script type="module" src="/assets/app-Ab12_-x.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

/** A raw request: the path goes out exactly as written (fetch would resolve dot segments first). */
function rawGet(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web app routes', () => {
  let root: string;
  let srv: TestServer;
  let bare: TestServer;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'e2ee-chat-web-'));
    const web = join(root, 'web');
    mkdirSync(join(web, 'assets'), { recursive: true });
    writeFileSync(join(web, 'index.html'), INDEX);
    writeFileSync(join(web, 'assets', 'app-Ab12_-x.js'), SCRIPT);
    writeFileSync(join(web, 'assets', 'notes.unknown'), 'not a served type');
    writeFileSync(join(web, '.hidden.js'), 'secret');
    writeFileSync(join(root, 'secret.txt'), 'outside the build');
    symlinkSync(join(root, 'secret.txt'), join(web, 'linked.txt'));
    srv = await startTestServer({ webDir: web });
    bare = await startTestServer({ webDir: join(root, 'not-built') });
  });
  afterAll(async () => {
    await srv.stop();
    await bare.stop();
    removeDir(srv.dataDir);
    removeDir(bare.dataDir);
    removeDir(root);
  });

  it('serves / and /index.html as the page, with the CSP and security headers, revalidated on each visit', async () => {
    for (const path of ['/', '/index.html']) {
      const res = await rawGet(srv.port, path);
      expect(res.status, path).toBe(200);
      expect(res.body.toString()).toBe(INDEX);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['permissions-policy']).toContain('camera=()');
      expect(res.headers['cache-control']).toBe('no-cache');
    }
  });

  it('serves a hashed asset with its type, cached for a year, gzipped when asked, and 304 for its ETag', async () => {
    const path = '/assets/app-Ab12_-x.js';
    const plain = await rawGet(srv.port, path);
    expect(plain.status).toBe(200);
    expect(plain.body.toString()).toBe(SCRIPT);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gzipped = await rawGet(srv.port, path, 'GET', { 'accept-encoding': 'br, gzip' });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toBe('accept-encoding');
    expect(gunzipSync(gzipped.body).toString()).toBe(SCRIPT);
    expect((await rawGet(srv.port, path, 'GET', { 'accept-encoding': 'gzip;q=0' })).headers['content-encoding']).toBeUndefined();
    const again = await rawGet(srv.port, path, 'GET', { 'if-none-match': String(plain.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const head = await rawGet(srv.port, path, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(SCRIPT.length));
    expect(head.body.length).toBe(0);
  });

  it('refuses other methods on its files (405), and answers 404 to every path outside the build map', async () => {
    const post = await rawGet(srv.port, '/', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
      '/linked.txt',
      '/.hidden.js',
      '/assets/notes.unknown',
      '/assets/',
      '/assets',
      '/index.html/',
      '/ASSETS/app-Ab12_-x.js',
      '/assets/app-Ab12_-x.js%00',
      '//assets/app-Ab12_-x.js',
      '/nope',
    ]) {
      const res = await rawGet(srv.port, path);
      expect(res.status, path).toBe(404);
      expect(res.body.toString(), path).not.toMatch(/outside the build|secret|not a served type/);
      expect(res.headers['x-content-type-options'], path).toBe('nosniff');
    }
  });

  it('without a build, / says plainly that the app was not built and how to build it; the relay still answers', async () => {
    const res = await rawGet(bare.port, '/');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body.toString()).toMatch(/web app has not been built[^]*npm run build/);
    expect((await rawGet(bare.port, '/assets/app-Ab12_-x.js')).status).toBe(404);
    expect((await rawGet(bare.port, '/health')).status).toBe(200);
  });
});
