/**
 * Moving a blob's bytes over HTTP (docs/PROTOCOL.md §20.4), through a BlobHttp: `fetch` by default, so
 * it runs in Node and in browsers alike; on Node, node:http (node/node-blob-http.ts), which sends and
 * receives chunks without the copies fetch makes of each one.
 *
 * Uploads go in chunks (`PUT` with `Content-Range`), each small enough to arrive well within the
 * server's request timeout: the size adapts to how fast chunks go, and the next chunk is encrypted while
 * one travels. After a passing failure (the network, a 5xx, a busy blob) the uploader asks the server how
 * many bytes it holds (`HEAD`) and goes on from there. Downloads stream the body to the caller piece by
 * piece. Memory is two chunks at most, whatever the file. Every answer is checked: the server is the
 * adversary (it can refuse or lose a blob, never make a client accept bytes the digest does not cover).
 */
import { blobErrorAnswerSchema, blobPutAnswerSchema, blobUrl, MAX_BLOB_CHUNK_BYTES, UPLOAD_LENGTH_HEADER, UPLOAD_OFFSET_HEADER } from '../protocol/blob-schemas.js';
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import { BLOB_CHUNK_FAST_MS, BLOB_CHUNK_SLOW_MS, BLOB_TRANSFER_ATTEMPTS, INITIAL_BLOB_CHUNK_BYTES, MIN_BLOB_CHUNK_BYTES } from '../protocol/limits.js';

export type Fetch = typeof globalThis.fetch;

/** An HTTP answer, as much of it as the blob protocol reads. */
export interface BlobHttpAnswer {
  readonly status: number;
  header(name: string): string | null;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  json(): Promise<unknown>;
}

/** The three requests of the blob protocol. Failures to reach the server reject (any error). */
export interface BlobHttp {
  put(url: string, headers: Readonly<Record<string, string>>, body: Uint8Array): Promise<BlobHttpAnswer>;
  head(url: string, headers: Readonly<Record<string, string>>): Promise<BlobHttpAnswer>;
  /** The body streams in pieces (each may be reused after the next is asked for); unread, it is discarded. */
  get(url: string, headers: Readonly<Record<string, string>>): Promise<BlobHttpAnswer & { body: AsyncIterable<Uint8Array>; discard(): void }>;
}

/**
 * A PUT or HEAD with no answer for this long fails (passing: the upload resumes). fetch has no idle
 * timeout, so this bounds the whole request: chunks are sized to take seconds (BLOB_CHUNK_SLOW_MS).
 * Downloads have none: a whole blob may take long on a slow link.
 */
const FETCH_REQUEST_TIMEOUT_MS = 120_000;

/** BlobHttp over `fetch` (the runtime's, or another with its signature). */
export function fetchBlobHttp(fetchImpl: Fetch = globalThis.fetch): BlobHttp {
  const answer = (res: Response): BlobHttpAnswer => ({
    status: res.status,
    header: (name) => res.headers.get(name),
    json: () => res.json().catch(() => undefined),
  });
  return {
    put: async (url, headers, body) =>
      answer(await fetchImpl(url, { method: 'PUT', headers, body: body as Uint8Array<ArrayBuffer>, signal: AbortSignal.timeout(FETCH_REQUEST_TIMEOUT_MS) })),
    head: async (url, headers) => answer(await fetchImpl(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(FETCH_REQUEST_TIMEOUT_MS) })),
    get: async (url, headers) => {
      const res = await fetchImpl(url, { headers });
      const reader = res.body?.getReader();
      return {
        ...answer(res),
        body: (async function* () {
          if (!reader) return;
          for (;;) {
            const next = await reader.read();
            if (next.done) return;
            yield next.value;
          }
        })(),
        discard: () => void reader?.cancel().catch(() => undefined),
      };
    },
  };
}

/** Bytes done of a total, for a progress bar. */
export type Progress = (done: number, total: number) => void;

/** Failures worth another try: the server or the path to it may recover. */
const PASSING: ReadonlySet<ErrorCode> = new Set(['not_connected', 'timeout', 'rate_limited', 'internal']);

export const isPassingTransferError = (err: unknown): boolean => err instanceof ChatError && PASSING.has(err.code);

/** Backoff between tries: 250 ms doubling, the same scale as reconnecting. */
export const transferDelayMs = (failure: number): number => Math.min(10_000, 250 * 2 ** (failure - 1));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What an HTTP answer means for the caller: its code in our vocabulary. */
async function refusal(res: BlobHttpAnswer, what: string): Promise<ChatError> {
  const parsed = blobErrorAnswerSchema.safeParse(await res.json());
  const said = parsed.success ? `${parsed.data.error}${parsed.data.message ? `: ${parsed.data.message}` : ''}` : `HTTP ${res.status}`;
  const code: ErrorCode =
    res.status === 404
      ? 'blob_not_found'
      : res.status === 429
        ? 'rate_limited'
        : res.status >= 500 || (res.status === 409 && parsed.success && (parsed.data.error === 'upload_in_progress' || parsed.data.error === 'offset_mismatch'))
          ? 'internal' // passing: another try (after HEAD) may go through
          : 'bad_response';
  return new ChatError(code, `${what}: the server answered ${said}`);
}

/** A request, with a failure to reach the server as ChatError not_connected (passing). */
async function request<T>(send: () => Promise<T>, what: string): Promise<T> {
  try {
    return await send();
  } catch (cause) {
    throw new ChatError('not_connected', `${what}: the request failed (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

const ok = (res: BlobHttpAnswer) => res.status >= 200 && res.status < 300;

/**
 * Reads a pass over the blob as fixed-size chunks, from `skip` bytes in (a resumed upload re-runs the
 * encryption and drops what the server already holds).
 */
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private piece: Uint8Array = new Uint8Array(0);

  constructor(source: AsyncIterable<Uint8Array>, private skip: number) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Fills `into` as far as the blob goes; returns how many bytes it wrote (fewer only at the end). */
  async read(into: Uint8Array): Promise<number> {
    let filled = 0;
    while (filled < into.length) {
      if (this.piece.length === 0) {
        const next = await this.iterator.next();
        if (next.done) break;
        this.piece = next.value;
        if (this.skip > 0) {
          const dropped = Math.min(this.skip, this.piece.length);
          this.skip -= dropped;
          this.piece = this.piece.subarray(dropped);
          continue;
        }
      }
      const take = Math.min(this.piece.length, into.length - filled);
      into.set(this.piece.subarray(0, take), filled);
      filled += take;
      this.piece = this.piece.subarray(take);
    }
    return filled;
  }

  /** Ends the pass early (closing what it reads from); harmless after its end. */
  async close(): Promise<void> {
    await this.iterator.return?.().catch(() => undefined);
  }

  /**
   * Runs the pass to its end (where the encryption records its digest) and says whether it ended
   * exactly where the reads (and skips) so far did: no byte more than the blob's declared length.
   */
  async finish(): Promise<boolean> {
    if (this.piece.length > 0) return false;
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return this.skip === 0;
      const dropped = Math.min(this.skip, next.value.length);
      this.skip -= dropped;
      if (dropped < next.value.length) return false;
    }
  }
}

export interface UploadOptions {
  serverUrl: string;
  id: string;
  uploadToken: string;
  /** The blob's length, as declared at blob.create. */
  length: number;
  /** The server's chunk cap from blob.create (bounded by ours: a server cannot make us buffer more). */
  maxChunkBytes: number;
  /** A new pass over the blob from its first byte: the same bytes every time. */
  pass(): AsyncIterable<Uint8Array>;
  onProgress?: Progress;
  http?: BlobHttp;
  /** Tries after passing failures (default BLOB_TRANSFER_ATTEMPTS), and the wait before each. */
  attempts?: number;
  delayMs?: (failure: number) => number;
}

/** Uploads the blob whole; resolves once the server says it is complete (flushed to its disk). */
export async function uploadBlob(options: UploadOptions): Promise<void> {
  const http = options.http ?? fetchBlobHttp();
  const url = blobUrl(options.serverUrl, options.id);
  const auth = { authorization: `Bearer ${options.uploadToken}` };
  const cap = Math.max(MIN_BLOB_CHUNK_BYTES, Math.min(options.maxChunkBytes, MAX_BLOB_CHUNK_BYTES));
  // Two chunk buffers: the next chunk is read and encrypted while the one before travels.
  let current = new Uint8Array(cap);
  let spare = new Uint8Array(cap);
  let chunk = Math.min(INITIAL_BLOB_CHUNK_BYTES, cap);
  let offset = 0;
  let failures = 0;
  const attempts = options.attempts ?? BLOB_TRANSFER_ATTEMPTS;

  const stored = async (): Promise<number> => {
    const res = await request(() => http.head(url, auth), 'upload status');
    if (!ok(res)) throw await refusal(res, 'upload status');
    const held = Number(res.header(UPLOAD_OFFSET_HEADER));
    if (!Number.isSafeInteger(held) || held < 0 || held > options.length || Number(res.header(UPLOAD_LENGTH_HEADER)) !== options.length) {
      throw new ChatError('bad_response', 'upload status: the server named an impossible offset or length');
    }
    return held;
  };

  /** PUTs `n` bytes of `buffer` at `offset`; resolves with the server's word that it holds them. */
  const put = async (buffer: Uint8Array, n: number): Promise<{ complete: boolean }> => {
    const range = { ...auth, 'content-range': `bytes ${offset}-${offset + n - 1}/${options.length}` };
    const res = await request(() => http.put(url, range, buffer.subarray(0, n)), 'upload');
    if (!ok(res)) throw await refusal(res, 'upload');
    const answer = blobPutAnswerSchema.safeParse(await res.json());
    if (!answer.success || answer.data.received !== offset + n || answer.data.size !== options.length) {
      throw new ChatError('bad_response', "upload: the server's answer does not match the bytes sent");
    }
    return answer.data;
  };

  for (;;) {
    let reader: ChunkReader | undefined;
    let next: Promise<number> | undefined;
    try {
      if (failures > 0) offset = await stored();
      reader = new ChunkReader(options.pass(), offset);
      // The server has it all already (the answer to the last chunk was lost): only the digest is missing.
      if (offset === options.length) {
        if (!(await reader.finish())) throw new Error('the blob is longer than the length it was declared with');
        return;
      }
      let n = await reader.read(current.subarray(0, Math.min(chunk, options.length - offset)));
      for (;;) {
        if (n === 0) throw new Error('the blob is shorter than the length it was declared with');
        const started = Date.now();
        const sending = put(current, n);
        const after = options.length - offset - n;
        next = after > 0 ? reader.read(spare.subarray(0, Math.min(chunk, after))) : undefined;
        // Marked handled: if the PUT fails first, the read's own failure is not the news.
        next?.catch(() => undefined);
        const answer = await sending;
        offset += n;
        failures = 0;
        options.onProgress?.(offset, options.length);
        if (offset === options.length) {
          if (!answer.complete) throw new ChatError('bad_response', 'upload: every byte was sent but the server does not call the blob complete');
          if (!(await reader.finish())) throw new Error('the blob is longer than the length it was declared with');
          return;
        }
        const took = Date.now() - started;
        if (took < BLOB_CHUNK_FAST_MS) chunk = Math.min(cap, chunk * 2);
        else if (took > BLOB_CHUNK_SLOW_MS) chunk = Math.max(MIN_BLOB_CHUNK_BYTES, Math.floor(chunk / 2));
        n = await next!;
        next = undefined;
        [current, spare] = [spare, current];
      }
    } catch (err) {
      if (!isPassingTransferError(err) || ++failures >= attempts) throw err;
      // A chunk that failed may have been too large for the link (the server's request timeout).
      chunk = Math.max(MIN_BLOB_CHUNK_BYTES, Math.floor(chunk / 2));
      await sleep((options.delayMs ?? transferDelayMs)(failures));
    } finally {
      // This pass is over (done, failed, or to be run again from the server's offset): let it go.
      await next?.catch(() => undefined);
      await reader?.close();
    }
  }
}

/**
 * The blob's bytes as the server sends them. Refusals become ChatErrors: `blob_not_found` (gone,
 * expired, or a wrong capability), passing ones (`rate_limited`, `internal`, `not_connected`) for the
 * caller to retry.
 */
export async function* downloadBlob(serverUrl: string, id: string, token: string, http: BlobHttp = fetchBlobHttp()): AsyncGenerator<Uint8Array, void, undefined> {
  const res = await request(() => http.get(blobUrl(serverUrl, id), { authorization: `Bearer ${token}` }), 'download');
  try {
    if (!ok(res)) throw await refusal(res, 'download');
    const pieces = res.body[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await pieces.next();
      } catch (cause) {
        throw new ChatError('not_connected', 'download: the connection broke off', { cause });
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // A consumer that stops early (a blob over its bound) must not leave the body streaming in.
    res.discard();
  }
}
