/**
 * A hostile server for client tests: a Socket.IO server that speaks our protocol and lies when told to.
 *
 * It stands in front of a real server (test/helpers/test-server.ts). For each client connection it opens
 * its own socket.io-client connection to the real server (the "upstream"), forwards every client event
 * there and hands the real answer back as the ack; every event the real server pushes is passed on to
 * the client. Between the two, a test can:
 *  - `onAnswer(event, rewrite)`: replace the real answer (substitute keys under any name, roll back a
 *    prekey bundle to one recorded earlier, answer another question);
 *  - `onRequest(event, answer)`: answer without asking the real server (return FORWARD to forward after all);
 *  - `onPush(event, rewrite)`: rewrite, drop (`[]`) or duplicate (`[p, p]`) pushed events;
 *  - `hold(user)` / `release(user, reorder)`: hold pushed events and let them go reordered;
 *  - `push(user, event, ...args)`: inject any frame (null, numbers, huge strings, extra members, replays);
 *  - read `frames`: every request, answer and push, as sent, for replays and rollbacks (`answersTo`).
 * Plain HTTP requests (the blob store's) are relayed to the real server too; `onHttp(hook)` answers them instead.
 * A hook's `conn.ask(event, payload)` asks the real server something as that connection's user, e.g. the
 * keys of another user to substitute. One hook per event; a new one replaces it; each returns its remover.
 */
import { createServer, request as httpRequest, type IncomingMessage as HttpRequest, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIOServer, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import type {
  Ack,
  AckResult,
  ChallengeResult,
  ClientEventName,
  SendResult,
  ServerToClientEvents,
  SessionResult,
  UserKeys,
  UsersResult,
} from '../../src/protocol/events.js';
import type { BlobCreateResult } from '../../src/protocol/blob-schemas.js';
import type { PreKeyBundleWire, PreKeyCountResult } from '../../src/protocol/prekey-schemas.js';

/** What the real server answers to each client event (a rewrite may return anything at all). */
export interface RealAnswers {
  challenge: Ack<ChallengeResult>;
  register: Ack<SessionResult>;
  login: Ack<SessionResult>;
  keys: Ack<UserKeys>;
  users: Ack<UsersResult>;
  send: Ack<SendResult>;
  ack: Ack<AckResult>;
  'prekeys.upload': Ack<PreKeyCountResult>;
  'prekeys.count': Ack<PreKeyCountResult>;
  'prekeys.bundle': Ack<PreKeyBundleWire>;
  'blob.create': Ack<BlobCreateResult>;
}

export type PushEvent = keyof ServerToClientEvents;
export type PushPayload<E extends PushEvent> = Parameters<ServerToClientEvents[E]>[0];

export type Frame =
  | { kind: 'request'; connection: number; user: string | undefined; event: string; payload: unknown }
  /** `real` is undefined when the hostile server answered without forwarding. */
  | { kind: 'answer'; connection: number; user: string | undefined; event: string; payload: unknown; real: unknown; sent: unknown }
  | { kind: 'push'; connection: number; user: string | undefined; event: string; args: unknown[]; injected: boolean };

/** Returned by an `onRequest` handler to forward the request to the real server after all. */
export const FORWARD: unique symbol = Symbol('forward');

export interface HostileConnection {
  readonly id: number;
  /** The name this connection logged in or registered as (once the answer said ok). */
  readonly username: string | undefined;
  /** Asks the real server, on this connection's upstream (so as its user), and returns the raw answer. */
  ask<E extends ClientEventName>(event: E, payload: unknown): Promise<RealAnswers[E]>;
  /** Sends any frame to this client, bypassing hooks and holds. */
  push(event: string, ...args: unknown[]): void;
  /** Ends the connection on purpose (socket.io-client then stays disconnected until told to connect). */
  disconnect(): void;
  /** Closes the transport, as a network failure would: the client reconnects by itself. */
  drop(): void;
}

type AnswerHook<E extends ClientEventName> = (answer: RealAnswers[E], payload: unknown, conn: HostileConnection) => unknown;
type RequestHook = (payload: unknown, conn: HostileConnection) => unknown;
type PushHook<E extends PushEvent> = (payload: PushPayload<E>, conn: HostileConnection) => unknown[];
/** Answers a plain HTTP request itself (true), or lets it through to the real server (false). */
export type HttpHook = (req: HttpRequest, res: ServerResponse) => boolean;

interface Held {
  connection: Connection;
  event: string;
  args: unknown[];
}

/** Big enough to pass any oversized frame on to the real server, which then applies its own cap. */
const HOSTILE_BUFFER_BYTES = 16 * 1024 * 1024;

class Connection implements HostileConnection {
  username: string | undefined;
  constructor(
    readonly id: number,
    readonly client: ServerSocket,
    readonly upstream: ClientSocket,
  ) {}
  ask<E extends ClientEventName>(event: E, payload: unknown): Promise<RealAnswers[E]> {
    return this.upstream.emitWithAck(event, payload) as Promise<RealAnswers[E]>;
  }
  push(event: string, ...args: unknown[]): void {
    this.client.emit(event, ...args);
  }
  disconnect(): void {
    this.client.disconnect(true);
    this.upstream.disconnect();
  }
  drop(): void {
    this.client.conn.close();
  }
}

export class HostileServer {
  readonly frames: Frame[] = [];
  private readonly http: HttpServer;
  private readonly io: SocketIOServer;
  private readonly live = new Set<Connection>();
  private readonly answerHooks = new Map<string, AnswerHook<never>>();
  private readonly requestHooks = new Map<string, RequestHook>();
  private readonly pushHooks = new Map<string, PushHook<never>>();
  private readonly held = new Map<string, Held[]>();
  private readonly loginWaiters: Array<{ user: string; resolve: (c: HostileConnection) => void }> = [];
  private httpHook: HttpHook | undefined;
  private nextId = 1;
  url = '';

  private constructor(private readonly upstreamUrl: string) {
    // Plain HTTP (the blob store's requests, docs/PROTOCOL.md §20) is relayed to the real server unless a hook answers it.
    this.http = createServer((req, res) => {
      if (this.httpHook?.(req, res) === true) return;
      this.relayHttp(req, res);
    });
    this.io = new SocketIOServer(this.http, { maxHttpBufferSize: HOSTILE_BUFFER_BYTES, serveClient: false, perMessageDeflate: false });
    this.io.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a hostile server in front of the real one at `upstreamUrl`, on an ephemeral port. */
  static async start(upstreamUrl: string): Promise<HostileServer> {
    const hostile = new HostileServer(upstreamUrl);
    await new Promise<void>((resolve) => hostile.http.listen(0, '127.0.0.1', resolve));
    hostile.url = `http://127.0.0.1:${(hostile.http.address() as AddressInfo).port}`;
    return hostile;
  }

  onAnswer<E extends ClientEventName>(event: E, rewrite: AnswerHook<E>): () => void {
    return this.setHook(this.answerHooks, event, rewrite as AnswerHook<never>);
  }

  onRequest(event: ClientEventName, answer: RequestHook): () => void {
    return this.setHook(this.requestHooks, event, answer);
  }

  /** The hook returns the payloads to deliver instead: `[]` drops the event, `[p, p]` duplicates it. */
  onPush<E extends PushEvent>(event: E, rewrite: PushHook<E>): () => void {
    return this.setHook(this.pushHooks, event, rewrite as PushHook<never>);
  }

  /**
   * Answers plain HTTP requests (the blob store's) itself: the hook returns true when it answered, false
   * to relay the request to the real server. One hook; a new one replaces it; returns its remover.
   */
  onHttp(hook: HttpHook): () => void {
    this.httpHook = hook;
    return () => {
      if (this.httpHook === hook) this.httpHook = undefined;
    };
  }

  /** Forwards a plain HTTP request to the real server and its answer back, bodies streamed both ways. */
  private relayHttp(req: HttpRequest, res: ServerResponse): void {
    const upstream = httpRequest(new URL(req.url ?? '/', this.upstreamUrl), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }

  /** Connections of `user` that are logged in now. */
  connectionsOf(user: string): HostileConnection[] {
    return [...this.live].filter((c) => c.username === user);
  }

  /** Resolves once `user` has logged in (or registered) through this server; at once if they are. */
  waitForLogin(user: string): Promise<HostileConnection> {
    const now = this.connectionsOf(user)[0];
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.loginWaiters.push({ user, resolve }));
  }

  /** Sends a frame (anything at all) to every logged-in connection of `user`; returns how many got it. */
  push(user: string, event: string, ...args: unknown[]): number {
    const targets = this.connectionsOf(user) as Connection[];
    for (const c of targets) {
      this.frames.push({ kind: 'push', connection: c.id, user, event, args, injected: true });
      c.push(event, ...args);
    }
    return targets.length;
  }

  /** From now on, events the real server pushes to `user` are held until `release`. */
  hold(user: string): void {
    if (!this.held.has(user)) this.held.set(user, []);
  }

  /** Delivers what was held for `user`, in the order `reorder` gives (default: as received), and stops holding. */
  release(user: string, reorder: (held: Array<{ event: string; args: unknown[] }>) => Array<{ event: string; args: unknown[] }> = (h) => h): number {
    const held = this.held.get(user) ?? [];
    this.held.delete(user);
    const byFrame = new Map(held.map((h) => [{ event: h.event, args: h.args }, h] as const));
    const order = reorder([...byFrame.keys()]);
    for (const frame of order) {
      const h = byFrame.get(frame);
      if (h) this.deliver(h.connection, h.event, h.args);
    }
    return order.length;
  }

  /** How many pushed events are held for `user` now. */
  heldCount(user: string): number {
    return this.held.get(user)?.length ?? 0;
  }

  /** The answers recorded for `event` (optionally only those whose request matched), oldest first. */
  answersTo(event: ClientEventName, requestMatches: (payload: unknown) => boolean = () => true): Array<{ payload: unknown; real: unknown; sent: unknown }> {
    return this.frames.flatMap((f) => (f.kind === 'answer' && f.event === event && requestMatches(f.payload) ? [f] : []));
  }

  /** Frames the client received for `event` (pushed by the real server or injected). */
  pushesOf(event: PushEvent, user?: string): unknown[][] {
    return this.frames.flatMap((f) => (f.kind === 'push' && f.event === event && (user === undefined || f.user === user) ? [f.args] : []));
  }

  async close(): Promise<void> {
    for (const c of this.live) c.upstream.disconnect();
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }

  private setHook<H>(hooks: Map<string, H>, event: string, hook: H): () => void {
    hooks.set(event, hook);
    return () => {
      if (hooks.get(event) === hook) hooks.delete(event);
    };
  }

  private accept(socket: ServerSocket): void {
    // socket.io-client buffers emits until it is connected, so client events may be forwarded at once.
    const upstream = io(this.upstreamUrl, { transports: ['websocket'], reconnection: false, forceNew: true });
    const conn = new Connection(this.nextId++, socket, upstream);
    this.live.add(conn);
    socket.onAny((event: string, ...args: unknown[]) => {
      // A request still in flight when either side drops (a test's drop(), a client closing) fails with
      // "socket has been disconnected" and has nobody to answer; any other failure is the test's to see.
      this.request(conn, event, args).catch((err: unknown) => {
        if (conn.client.connected && conn.upstream.connected) throw err;
      });
    });
    upstream.onAny((event: string, ...args: unknown[]) => this.fromUpstream(conn, event, args));
    socket.on('disconnect', () => {
      this.live.delete(conn);
      upstream.disconnect();
    });
    upstream.on('disconnect', () => socket.disconnect(true));
  }

  private async request(conn: Connection, event: string, args: unknown[]): Promise<void> {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (answer: unknown) => void) : undefined;
    const payloads = ack ? args.slice(0, -1) : args;
    const payload = payloads[0];
    this.frames.push({ kind: 'request', connection: conn.id, user: conn.username, event, payload });
    const answerer = this.requestHooks.get(event);
    let real: unknown;
    let sent: unknown = FORWARD;
    if (answerer) sent = await answerer(payload, conn);
    if (sent === FORWARD) {
      if (!ack) {
        conn.upstream.emit(event, ...payloads);
        return;
      }
      real = await conn.upstream.emitWithAck(event, ...payloads);
      const rewrite = this.answerHooks.get(event);
      sent = rewrite ? await (rewrite as AnswerHook<ClientEventName>)(real as never, payload, conn) : real;
    }
    if ((event === 'login' || event === 'register') && isOk(real)) {
      conn.username = (payload as { username: string }).username;
      for (const w of this.loginWaiters.splice(0)) {
        if (w.user === conn.username) w.resolve(conn);
        else this.loginWaiters.push(w);
      }
    }
    this.frames.push({ kind: 'answer', connection: conn.id, user: conn.username, event, payload, real, sent });
    ack?.(sent);
  }

  private fromUpstream(conn: Connection, event: string, args: unknown[]): void {
    const rewrite = this.pushHooks.get(event);
    const deliveries = rewrite ? (rewrite as PushHook<PushEvent>)(args[0] as never, conn).map((p) => [p]) : [args];
    for (const a of deliveries) {
      const held = conn.username === undefined ? undefined : this.held.get(conn.username);
      if (held) held.push({ connection: conn, event, args: a });
      else this.deliver(conn, event, a);
    }
  }

  private deliver(conn: Connection, event: string, args: unknown[]): void {
    this.frames.push({ kind: 'push', connection: conn.id, user: conn.username, event, args, injected: false });
    conn.client.emit(event, ...args);
  }
}

function isOk(answer: unknown): boolean {
  return typeof answer === 'object' && answer !== null && (answer as { ok?: unknown }).ok === true;
}
