/**
 * Node-only: the blob protocol's HTTP requests over node:http(s) with a keep-alive agent. Why not fetch:
 * Node's fetch copies every request body and every response piece (the Fetch standard's body
 * extraction and its web streams), which for a 100 MiB file was a third of the sender's time and most of
 * its garbage; node:http writes the chunk as it is and hands the response's pieces over as they come.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { BlobHttp, BlobHttpAnswer } from '../blob-transfer.js';

/** A request with no progress for this long fails (a passing failure: the upload resumes after it). */
const IDLE_TIMEOUT_MS = 60_000;
/** A JSON answer (the blob protocol's are a few dozen bytes) longer than this is not one. */
const MAX_JSON_BYTES = 64 * 1024;

// Free sockets are unreferenced by the agent, so a kept-alive connection never holds a process open.
const agents = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };

function send(method: 'PUT' | 'HEAD' | 'GET', url: string, headers: Readonly<Record<string, string>>, body?: Uint8Array): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const protocol = target.protocol === 'https:' ? 'https:' : 'http:';
    const req = (protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { method, headers: { ...headers, ...(body && { 'content-length': String(body.length) }) }, agent: agents[protocol] },
      resolve,
    );
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function readJson(res: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of res) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_JSON_BYTES) {
      res.destroy();
      return undefined;
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function answer(res: IncomingMessage): BlobHttpAnswer {
  return {
    status: res.statusCode ?? 0,
    header: (name) => {
      const value = res.headers[name.toLowerCase()];
      return typeof value === 'string' ? value : null;
    },
    json: () => readJson(res),
  };
}

/** BlobHttp over node:http and node:https. */
export function nodeBlobHttp(): BlobHttp {
  return {
    put: async (url, headers, body) => answer(await send('PUT', url, headers, body)),
    head: async (url, headers) => {
      const res = await send('HEAD', url, headers);
      res.resume();
      return answer(res);
    },
    get: async (url, headers) => {
      const res = await send('GET', url, headers);
      return {
        ...answer(res),
        body: (async function* () {
          for await (const chunk of res) yield chunk as Buffer;
          // A body cut short still ends the iteration: say so, or a truncated blob would look complete.
          if (!res.complete) throw new Error('the response ended before its end');
        })(),
        discard: () => {
          if (!res.complete) res.destroy();
        },
      };
    },
  };
}
