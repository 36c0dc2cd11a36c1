/**
 * The built web app (dist/web, written by `npm run build`), read once into memory (at the first request
 * for it, web-route.ts): a map from URL path to bytes. A request is answered by a lookup in that map, never by joining
 * its path to a folder, so no path (`..`, encoded or not, a symlink, a dotfile) reaches any other file.
 * Files are small (a page, one script, one stylesheet); a rebuild takes effect when the server restarts.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** dist/web beside this module's tree: src/server/web/ and dist/server/web/ both sit three levels below the package root. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../dist/web', import.meta.url));

/** Hashed file names (Vite's build.assetsDir): their content never changes under a name. */
export const IMMUTABLE_PREFIX = '/assets/';

/** The types served; a file of any other extension is not served at all. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Types whose gzip is worth keeping (text); images and fonts are compressed already. */
const COMPRESSIBLE = /^(text\/|application\/(json|manifest\+json|wasm)|image\/svg)/;

export interface WebFile {
  body: Buffer;
  /** The same bytes gzipped, when that is smaller. */
  gzip: Buffer | undefined;
  contentType: string;
  /** A strong validator: the content's hash. */
  etag: string;
  immutable: boolean;
}

/** Whether `dir` holds a build (its index.html). */
export function isWebBuilt(dir: string): boolean {
  return existsSync(join(dir, 'index.html'));
}

/** The files by URL path (`/` is index.html), or undefined when the folder holds no index.html (not built). */
export function loadWebFiles(dir: string): ReadonlyMap<string, WebFile> | undefined {
  if (!isWebBuilt(dir)) return undefined;
  const files = new Map<string, WebFile>();
  const walk = (folder: string, urlPrefix: string): void => {
    for (const name of readdirSync(folder)) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      // lstat: a symlink is neither a file nor a folder here, so nothing outside dist/web is reachable.
      const stat = lstatSync(path);
      if (stat.isDirectory()) walk(path, `${urlPrefix}${name}/`);
      else if (stat.isFile()) {
        const contentType = CONTENT_TYPES[extname(name).toLowerCase()];
        if (contentType) files.set(`${urlPrefix}${name}`, webFile(readFileSync(path), contentType, urlPrefix.startsWith(IMMUTABLE_PREFIX)));
      }
    }
  };
  walk(dir, '/');
  files.set('/', files.get('/index.html')!);
  return files;
}

function webFile(body: Buffer, contentType: string, immutable: boolean): WebFile {
  const gzipped = COMPRESSIBLE.test(contentType) ? gzipSync(body, { level: 9 }) : undefined;
  return {
    body,
    gzip: gzipped && gzipped.length < body.length ? gzipped : undefined,
    contentType,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    immutable,
  };
}
