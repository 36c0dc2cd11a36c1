/**
 * Answers the web app's paths: `/` (index.html) and the files of the build (web-files.ts), GET and HEAD,
 * with the security headers, a content type per extension, gzip when the client takes it, ETags, and
 * long caching for hashed assets only. When the app was not built, `/` says so in plain text.
 * Paths it does not know are not its business: it returns false and the caller answers 404.
 */
import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import { SECURITY_HEADERS } from './security-headers.js';
import type { WebFile } from './web-files.js';

/** A year: hashed names change with their content, so a cached copy is never stale. */
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
/** The page (its name does not change between builds) is checked with the server each time: a new build is seen at once. */
const REVALIDATE_CACHE = 'no-cache';

const NOT_BUILT =
  'The e2ee-chat web app has not been built, so there is no page to serve here.\n' +
  'Run "npm run build" (it writes dist/web) and restart the server.\n' +
  'The relay itself is running: the command-line client works as usual.\n';

export type WebRoute = (req: HttpRequest, res: ServerResponse, path: string) => boolean;

/**
 * `load` reads the build; it runs at the first request (once): reading and compressing it costs ~20 ms,
 * which a server that never serves the page (tests, a relay used from the CLI only) does not pay.
 */
export function webRoute(load: () => ReadonlyMap<string, WebFile> | undefined): WebRoute {
  let loaded: { files: ReadonlyMap<string, WebFile> | undefined } | undefined;
  return (req, res, path) => {
    loaded ??= { files: load() };
    const { files } = loaded;
    if (!files) {
      if (path !== '/' && path !== '/index.html') return false;
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
      return true;
    }
    const file = files.get(path);
    if (!file) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return true;
    }
    serve(req, res, file);
    return true;
  };
}

function serve(req: HttpRequest, res: ServerResponse, file: WebFile): void {
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': file.contentType,
    'cache-control': file.immutable ? IMMUTABLE_CACHE : REVALIDATE_CACHE,
    etag: file.etag,
  };
  if (file.gzip) headers.vary = 'accept-encoding';
  if (matchesEtag(req.headers['if-none-match'], file.etag)) {
    res.writeHead(304, headers).end();
    return;
  }
  const body = file.gzip && acceptsGzip(req.headers['accept-encoding']) ? file.gzip : file.body;
  if (body === file.gzip) headers['content-encoding'] = 'gzip';
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** RFC 9110 §13.1.2: a list of entity tags, or `*`; weak ones compare by their opaque part for GET. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** Whether Accept-Encoding takes gzip: named (or `*`) without q=0. */
function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    return !params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p));
  });
}
