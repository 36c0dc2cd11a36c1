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
 *
 * Both protocols pass through unchanged (docs/PROTOCOL.md §19): a connection's protocol and device are
 * those its login or register asked for. An answer hook given no protocol sees either protocol's answer
 * (a union to narrow), a push hook protocol 1's shape (protocol 2's only adds to it); given
 * `{ protocol: 2 }` (or 1) a hook runs only on connections of that protocol, typed exactly, and leaves
 * the others alone. A connection not logged in yet (a `challenge`, a `link.open`) counts as either.
 */
import { createServer, request as httpRequest, type IncomingMessage as HttpRequest, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIOServer, type Socket as ServerSocket } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import type { ClientEventName } from '../../src/protocol/events.js';
import type { ClientEventNameV2 } from '../../src/protocol/events-v2.js';
import type { AnswersOf, OnlyProtocol, Protocol, PushEvent, PushEventV2, PushPayloadOf, RealAnswers } from './hostile-server-types.js';

export type * from './hostile-server-types.js';

/** `device` is the connection's device once it logged in (1 for protocol 1). */
export type Frame =
  | { kind: 'request'; connection: number; user: string | undefined; device: number | undefined; event: string; payload: unknown }
  /** `real` is undefined when the hostile server answered without forwarding. */
  | { kind: 'answer'; connection: number; user: string | undefined; device: number | undefined; event: string; payload: unknown; real: unknown; sent: unknown }
  | { kind: 'push'; connection: number; user: string | undefined; device: number | undefined; event: string; args: unknown[]; injected: boolean };

/** Returned by an `onRequest` handler to forward the request to the real server after all. */
export const FORWARD: unique symbol = Symbol('forward');

/** A client's connection; P is its protocol when a hook asked for one (then `ask` is typed for it). */
export interface HostileConnection<P extends Protocol | undefined = undefined> {
  readonly id: number;
  /** The name this connection logged in or registered as (once the answer said ok). */
  readonly username: string | undefined;
  /** The protocol and device its login or register chose (once the answer said ok; a login's own hook already sees its protocol). */
  readonly protocol: (P extends Protocol ? P : Protocol) | undefined;
  readonly device: number | undefined;
  /** Asks the real server, on this connection's upstream (so as its user and device), and returns the raw answer. */
  ask<E extends keyof AnswersOf<P>>(event: E, payload: unknown): Promise<AnswersOf<P>[E]>;
  /** Sends any frame to this client, bypassing hooks and holds. */
  push(event: string, ...args: unknown[]): void;
  /** Ends the connection on purpose (socket.io-client then stays disconnected until told to connect). */
  disconnect(): void;
  /** Closes the transport, as a network failure would: the client reconnects by itself. */
  drop(): void;
}

type AnswerHook<E extends ClientEventNameV2, P extends Protocol | undefined = undefined> = (
  answer: AnswersOf<P>[E & keyof AnswersOf<P>],
  payload: unknown,
  conn: HostileConnection<P>,
) => unknown;
type RequestHook = (payload: unknown, conn: HostileConnection) => unknown;
type PushHook<E extends PushEventV2, P extends Protocol | undefined = undefined> = (payload: PushPayloadOf<P, E>, conn: HostileConnection<P>) => unknown[];
/** What the overloads' implementations take: any of the hooks above. */
type SomeHook<R> = (value: never, ...rest: never[]) => R;
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
  protocol: Protocol | undefined;
  device: number | undefined;
  constructor(
    readonly id: number,
    readonly client: ServerSocket,
    readonly upstream: ClientSocket,
  ) {}
  ask<E extends ClientEventNameV2>(event: E, payload: unknown): Promise<RealAnswers[E]> {
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
  private readonly answerHooks = new Map<string, AnswerHook<ClientEventNameV2>>();
  private readonly requestHooks = new Map<string, RequestHook>();
  private readonly pushHooks = new Map<string, PushHook<PushEventV2>>();
  private readonly held = new Map<string, Held[]>();
  private readonly loginWaiters: Array<{ user: string; device: number | undefined; resolve: (c: HostileConnection) => void }> = [];
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

  /** Rewrites the real answer; with `only`, on connections of that protocol alone (others get the real one). */
  onAnswer<E extends ClientEventNameV2>(event: E, rewrite: AnswerHook<E>): () => void;
  onAnswer<E extends ClientEventNameV2>(event: E, rewrite: AnswerHook<E, 2>, only: OnlyProtocol<2>): () => void;
  onAnswer<E extends ClientEventName>(event: E, rewrite: AnswerHook<E, 1>, only: OnlyProtocol<1>): () => void;
  onAnswer(event: ClientEventNameV2, someRewrite: SomeHook<unknown>, only?: OnlyProtocol<Protocol>): () => void {
    const rewrite = someRewrite as unknown as AnswerHook<ClientEventNameV2>;
    const hook: AnswerHook<ClientEventNameV2> = (answer, payload, conn) => (speaks(conn, only) ? rewrite(answer, payload, conn) : answer);
    return this.setHook(this.answerHooks, event, hook);
  }

  /** Answers without asking the real server; the hook reads `conn.protocol` to tell the protocols apart. */
  onRequest(event: ClientEventNameV2, answer: RequestHook): () => void {
    return this.setHook(this.requestHooks, event, answer);
  }

  /**
   * The hook returns the payloads to deliver instead: `[]` drops the event, `[p, p]` duplicates it. With
   * `only`, on connections of that protocol alone (others get the event as pushed).
   */
  onPush<E extends PushEventV2>(event: E, rewrite: PushHook<E>): () => void;
  onPush<E extends PushEventV2>(event: E, rewrite: PushHook<E, 2>, only: OnlyProtocol<2>): () => void;
  onPush<E extends PushEvent>(event: E, rewrite: PushHook<E, 1>, only: OnlyProtocol<1>): () => void;
  onPush(event: PushEventV2, someRewrite: SomeHook<unknown[]>, only?: OnlyProtocol<Protocol>): () => void {
    const rewrite = someRewrite as unknown as PushHook<PushEventV2>;
    const hook: PushHook<PushEventV2> = (payload, conn) => (speaks(conn, only) ? rewrite(payload, conn) : [payload]);
    return this.setHook(this.pushHooks, event, hook);
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

  /** Connections of `user` (of its device `device` only, when given) that are logged in now. */
  connectionsOf(user: string, device?: number): HostileConnection[] {
    return [...this.live].filter((c) => c.username === user && (device === undefined || c.device === device));
  }

  /** Resolves once `user` (its device `device`, when given) has logged in or registered through this server; at once if so. */
  waitForLogin(user: string, device?: number): Promise<HostileConnection> {
    const now = this.connectionsOf(user, device)[0];
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => this.loginWaiters.push({ user, device, resolve }));
  }

  /**
   * Sends a frame (anything at all: any event of either protocol, or garbage) to every logged-in
   * connection of `to`, a user or one device of it; returns how many got it.
   */
  push(to: string | { user: string; device: number }, event: PushEventV2 | (string & {}), ...args: unknown[]): number {
    const targets = (typeof to === 'string' ? this.connectionsOf(to) : this.connectionsOf(to.user, to.device)) as Connection[];
    for (const c of targets) {
      this.frames.push({ kind: 'push', connection: c.id, user: c.username, device: c.device, event, args, injected: true });
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
  answersTo(event: ClientEventNameV2, requestMatches: (payload: unknown) => boolean = () => true): Array<{ payload: unknown; real: unknown; sent: unknown }> {
    return this.frames.flatMap((f) => (f.kind === 'answer' && f.event === event && requestMatches(f.payload) ? [f] : []));
  }

  /** Frames the client received for `event` (pushed by the real server or injected), of one user or device when given. */
  pushesOf(event: PushEventV2, user?: string, device?: number): unknown[][] {
    const matches = (f: Frame) => (user === undefined || f.user === user) && (device === undefined || f.device === device);
    return this.frames.flatMap((f) => (f.kind === 'push' && f.event === event && matches(f) ? [f.args] : []));
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
    this.frames.push({ kind: 'request', connection: conn.id, user: conn.username, device: conn.device, event, payload });
    // A login's answer hooks run for the protocol it asks for, before the connection is known to speak it.
    const chosen = event === 'login' || event === 'register' ? chosenAddress(event, payload) : undefined;
    if (chosen && conn.username === undefined) conn.protocol = chosen.protocol;
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
      sent = rewrite ? await rewrite(real as never, payload, conn) : real;
    }
    if (chosen && isOk(real)) {
      conn.username = chosen.username;
      conn.protocol = chosen.protocol;
      conn.device = chosen.device;
      for (const w of this.loginWaiters.splice(0)) {
        if (w.user === conn.username && (w.device === undefined || w.device === conn.device)) w.resolve(conn);
        else this.loginWaiters.push(w);
      }
    } else if (chosen && conn.username === undefined) {
      conn.protocol = undefined; // refused: the next login may choose the other protocol
    }
    this.frames.push({ kind: 'answer', connection: conn.id, user: conn.username, device: conn.device, event, payload, real, sent });
    ack?.(sent);
  }

  private fromUpstream(conn: Connection, event: string, args: unknown[]): void {
    const rewrite = this.pushHooks.get(event);
    const deliveries = rewrite ? rewrite(args[0] as never, conn).map((p) => [p]) : [args];
    for (const a of deliveries) {
      const held = conn.username === undefined ? undefined : this.held.get(conn.username);
      if (held) held.push({ connection: conn, event, args: a });
      else this.deliver(conn, event, a);
    }
  }

  private deliver(conn: Connection, event: string, args: unknown[]): void {
    this.frames.push({ kind: 'push', connection: conn.id, user: conn.username, device: conn.device, event, args, injected: false });
    conn.client.emit(event, ...args);
  }
}

/**
 * The address and protocol a `login` or `register` asks for: protocol 2 names its device (a register is
 * device 1's); protocol 1 is device 1 (design §3.4).
 */
function chosenAddress(event: 'login' | 'register', payload: unknown): { username: string; protocol: Protocol; device: number } {
  const p = (payload ?? {}) as { username?: unknown; protocol?: unknown; device?: unknown };
  const protocol = p.protocol === 2 ? 2 : 1;
  const device = protocol === 2 && event === 'login' && typeof p.device === 'number' ? p.device : 1;
  return { username: String(p.username), protocol, device };
}

/** Whether a hook limited to `only`'s protocol runs on `conn` (one not logged in yet may speak either). */
function speaks(conn: HostileConnection, only: OnlyProtocol<Protocol> | undefined): boolean {
  return only === undefined || conn.protocol === undefined || conn.protocol === only.protocol;
}

function isOk(answer: unknown): boolean {
  return typeof answer === 'object' && answer !== null && (answer as { ok?: unknown }).ok === true;
}
