/**
 * One load generator, three servers: our relay, a bare Socket.IO relay and a bare `ws` relay. Each
 * LoadClient speaks one of them; the drivers in bench/relay.ts only see this interface.
 */
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { HybridEnvelope } from '../../src/protocol/schemas.js';
import { authenticated, newClientId } from './wire-client.js';

export interface Delivered {
  id: string;
  envelope: HybridEnvelope;
}

export interface LoadClient {
  send(to: string, envelope: HybridEnvelope): void;
  onMessage(handler: (m: Delivered) => void): void;
  /** Acknowledge deliveries (ours deletes them; the baselines just receive the frame). */
  ack(ids: string[]): void;
  close(): void;
}

export type Kind = 'e2ee-chat' | 'socket.io' | 'ws';

function socketIoClient(socket: Socket): LoadClient {
  return {
    send: (to, envelope) => socket.emit('send', { to, id: newClientId(), envelope }, noop),
    onMessage: (h) => socket.on('message', h),
    // No answer asked for (docs/PROTOCOL.md §7.9): a refusal would still come back as `protocol_error`.
    ack: (ids) => socket.emit('ack', { ids }),
    close: () => socket.close(),
  };
}

const noop = () => undefined;

async function bareSocketIo(url: string, username: string): Promise<LoadClient> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((res, rej) => {
    socket.once('connect', () => res());
    socket.once('connect_error', rej);
  });
  await socket.timeout(10_000).emitWithAck('login', { username });
  return socketIoClient(socket);
}

async function bareWs(url: string, username: string): Promise<LoadClient> {
  const ws = new WebSocket(url.replace('http', 'ws'), { perMessageDeflate: false });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const handlers: Array<(m: Delivered) => void> = [];
  let loggedIn!: () => void;
  const ready = new Promise<void>((r) => (loggedIn = r));
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { t: string; id: string; envelope: HybridEnvelope; k?: string };
    if (m.t === 'message') for (const h of handlers) h(m);
    else if (m.t === 'ok' && m.k === 'login') loggedIn();
  });
  ws.send(JSON.stringify({ t: 'login', u: username, k: 'login' }));
  await ready;
  return {
    send: (to, envelope) => ws.send(JSON.stringify({ t: 'send', to, e: envelope, k: newClientId() })),
    onMessage: (h) => void handlers.push(h),
    ack: (ids) => ws.send(JSON.stringify({ t: 'ack', ids })),
    close: () => ws.close(),
  };
}

export async function loadClient(kind: Kind, url: string, username: string, keys: UserKeyPairs, onMessage?: (m: Delivered) => void): Promise<LoadClient> {
  if (kind === 'e2ee-chat') {
    // The handler goes on before login: the server may push a backlog as soon as the login succeeds.
    const socket = await authenticated(url, username, keys, (s) => {
      if (onMessage) s.on('message', onMessage);
    });
    return socketIoClient(socket);
  }
  const client = kind === 'socket.io' ? await bareSocketIo(url, username) : await bareWs(url, username);
  if (onMessage) client.onMessage(onMessage);
  return client;
}

/** Runs `tasks` with at most `limit` in flight. */
export async function withConcurrency<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}
