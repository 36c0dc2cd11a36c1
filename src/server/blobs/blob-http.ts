/**
 * The HTTP side of the blob store (docs/PROTOCOL.md §20.4): `PUT` a chunk, `HEAD` how far an upload
 * got, `GET` a complete blob. HTTP carries no login: each request shows a capability in
 * `Authorization: Bearer`, the upload token for PUT and HEAD, the download token for GET. A missing or
 * wrong one answers exactly like an unknown id (404), so nothing tells a prober which ids exist. Every
 * request costs a token of its address's bucket; bodies are bounded by the chunk cap and the server's
 * request timeout, downloads by an idle timeout.
 */
import type { IncomingMessage as HttpRequest, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { BLOB_HTTP_ERRORS, BLOB_PATH_PREFIX, blobIdSchema, blobTokenSchema, UPLOAD_LENGTH_HEADER, UPLOAD_OFFSET_HEADER, type BlobHttpError } from '../../protocol/blob-schemas.js';
import type { KeyedRateLimiter } from '../rate-limit.js';
import { BlobRequestError, type BlobStore } from './blob-store.js';

export interface BlobHttpDeps {
  store: BlobStore;
  /** Requests per client address. */
  limiter: KeyedRateLimiter;
  logger: Logger;
  /** A download that makes no progress for this long is cut off. */
  idleTimeoutMs: number;
}

/** `bytes <first>-<last>/<total>` (RFC 9110 §14.4), as a start, a length and a total. */
export function parseContentRange(header: string | undefined): { start: number; length: number; total: number } | undefined {
  const m = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(header ?? '');
  if (!m) return undefined;
  const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (last < first || last >= total) return undefined;
  return { start: first, length: last - first + 1, total };
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header ?? '');
  return m && blobTokenSchema.safeParse(m[1]).success ? m[1] : undefined;
}

function refuse(req: HttpRequest, res: ServerResponse, code: BlobHttpError, message: string, received?: number): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (code === 'rate_limited') headers['retry-after'] = '1';
  if (code === 'method_not_allowed') headers.allow = 'GET, HEAD, PUT';
  // A body we did not read must not be taken for the next request on this connection.
  if (req.method === 'PUT' && !req.readableEnded) headers.connection = 'close';
  res.writeHead(BLOB_HTTP_ERRORS[code], headers);
  if (req.method === 'HEAD') res.end();
  else res.end(JSON.stringify({ error: code, message, ...(received !== undefined && { received }) }));
}

export function blobHttpHandler(deps: BlobHttpDeps): (req: HttpRequest, res: ServerResponse, path: string) => Promise<void> {
  const { store, limiter, logger } = deps;

  async function put(req: HttpRequest, res: ServerResponse, id: string, token: string): Promise<void> {
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined) return refuse(req, res, 'length_required', 'Content-Length is required');
    const range = parseContentRange(req.headers['content-range']);
    if (!range) return refuse(req, res, 'bad_request', 'Content-Range: expected "bytes <first>-<last>/<total>"');
    if (Number(lengthHeader) !== range.length) return refuse(req, res, 'bad_request', 'Content-Length is not the length of Content-Range');
    const answer = await store.append(id, token, range, req);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(answer));
  }

  async function head(res: ServerResponse, id: string, token: string): Promise<void> {
    const status = await store.status(id, token);
    res
      .writeHead(200, { [UPLOAD_OFFSET_HEADER]: String(status.received), [UPLOAD_LENGTH_HEADER]: String(status.size), 'cache-control': 'no-store' })
      .end();
  }

  async function get(req: HttpRequest, res: ServerResponse, id: string, token: string): Promise<void> {
    const download = await store.openDownload(id, token);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(download.size), 'cache-control': 'no-store' });
    // A reader that stops reading holds what its download holds (a descriptor, a file): cut it off after a quiet spell.
    res.setTimeout(deps.idleTimeoutMs, () => res.destroy());
    try {
      await pipeline(download.body, res);
    } catch (err) {
      // The reader went away: not a fetch. Nothing to answer; the connection is gone.
      logger.debug({ err, blob: id }, 'blob download broken off');
      return;
    }
    // Every byte went out: one of the declared fetches.
    await download.fetched();
  }

  return async (req, res, path) => {
    const address = req.socket.remoteAddress ?? 'unknown';
    try {
      if (!limiter.take(address)) return refuse(req, res, 'rate_limited', 'too many blob requests from this address; slow down');
      const id = path.slice(BLOB_PATH_PREFIX.length);
      const token = bearer(req.headers.authorization);
      if (req.method !== 'PUT' && req.method !== 'HEAD' && req.method !== 'GET') return refuse(req, res, 'method_not_allowed', 'GET, HEAD or PUT');
      if (!blobIdSchema.safeParse(id).success || token === undefined) return refuse(req, res, 'not_found', 'no such blob');
      if (req.method === 'PUT') await put(req, res, id, token);
      else if (req.method === 'HEAD') await head(res, id, token);
      else await get(req, res, id, token);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BlobRequestError) return refuse(req, res, err.code, err.message, err.received);
      // A body that broke off (the client went away, or the request timeout) leaves nobody to answer.
      if (req.destroyed || !req.socket.writable) return;
      logger.error({ err, path }, 'blob request failed');
      refuse(req, res, 'internal', 'internal server error');
    }
  };
}
