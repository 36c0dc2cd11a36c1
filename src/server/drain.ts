/**
 * Graceful drain of one node (docs/DEPLOY.md, rolling restart): the node stops taking work and hands
 * its clients to the others without losing or repeating anything. In order:
 *
 * 1. draining: `GET /health` answers 503 "draining" (a load balancer's check takes the node out) and
 *    Engine.IO refuses new handshakes (a client that still lands here is refused and tries again after
 *    its backoff, elsewhere once the balancer has noticed);
 * 2. notice: waits `noticeMs`, the time the balancer needs to see the 503, so the clients moved next
 *    reconnect to another node instead of bouncing off this one;
 * 3. moving: each connection stops taking events, waits for the ones it started (a send being committed
 *    is answered first: its ack means "stored"), then its transport is closed. The client sees a
 *    dropped transport ("transport close"), reconnects with its jittered backoff and resends from its
 *    outbox whatever was not acknowledged; the message id makes a resend of an already stored message
 *    a no-op. Connections are closed in batches so thousands of clients do not all knock at once;
 * 4. closing: the HTTP server (requests in progress, such as a blob upload, finish), then the store
 *    (SQLite: queued writes committed, the WAL checkpointed as the last connection closes; PostgreSQL:
 *    the pool ended).
 *
 * The bound on all this (and a second signal) is the caller's: src/server/stop-on-signals.ts.
 */
import type { Logger } from 'pino';
import type { ConnectionState } from './connection.js';

/** Connections closed together at most once per tick, when there are many; fewer go at once. */
const MOVE_BATCH_MIN = 50;
/**
 * Between two batches. With MOVE_SPREAD_SHARE of the bound to spread over, 10 s moves 500 connections a
 * tick at worst; clients add their own reconnect jitter (250 ms ± 50 % at first) on top.
 */
const MOVE_TICK_MS = 100;
/** Share of the bound (after the notice) over which the moves are spread; the rest is for the stragglers. */
const MOVE_SPREAD_SHARE = 0.5;

export type DrainPhase = 'serving' | 'draining' | 'moving' | 'closing' | 'closed';

export interface DrainParts {
  logger: Logger;
  /** How long the whole drain may take (the caller enforces it); the moves are spread within it. */
  boundMs: number;
  /** How long to keep answering 503 before moving clients (the balancer's time to notice). */
  noticeMs: number;
  /** Resolves when every socket is gone and the HTTP server has closed (Socket.IO's io.close). */
  closeServer(): Promise<void>;
  /** Stops timers and closes the store. */
  closeRest(): Promise<void>;
}

export class ServerDrain {
  private phaseNow: DrainPhase = 'serving';
  private readonly connections = new Set<ConnectionState>();
  private readonly moving = new WeakSet<ConnectionState>();
  private readonly gone = new Set<() => void>();
  private running: Promise<void> | null = null;

  constructor(private readonly parts: DrainParts) {}

  get phase(): DrainPhase {
    return this.phaseNow;
  }

  /** True from the first phase on: health says so, new handshakes are refused. */
  get draining(): boolean {
    return this.phaseNow !== 'serving';
  }

  /** A connection opened. */
  opened(conn: ConnectionState): void {
    this.connections.add(conn);
    // Its handshake passed just before the drain began, and it joined after the moves were listed: it
    // goes at once, or the drain would wait for it until its bound.
    if (this.phaseNow === 'moving') void this.move(conn);
  }

  /** A connection closed (for any reason). */
  closed(conn: ConnectionState): void {
    this.connections.delete(conn);
    if (this.connections.size === 0) for (const resolve of this.gone) resolve();
  }

  /** Whether an event from this connection is still taken: not once it is being moved. */
  admits(conn: ConnectionState): boolean {
    return !this.moving.has(conn);
  }

  /** Runs the drain once; later calls get the same promise. */
  run(): Promise<void> {
    this.running ??= this.phases();
    return this.running;
  }

  private async phases(): Promise<void> {
    const { logger, noticeMs, boundMs } = this.parts;
    const started = Date.now();
    this.phaseNow = 'draining';
    logger.info({ phase: 'draining', connections: this.connections.size, noticeMs, boundMs }, 'drain: /health answers 503, new connections are refused');
    if (noticeMs > 0) await new Promise((resolve) => setTimeout(resolve, noticeMs));

    this.phaseNow = 'moving';
    const count = this.connections.size;
    logger.info({ phase: 'moving', connections: count }, 'drain: moving clients to other nodes');
    await this.moveAll(Math.max(0, (boundMs - noticeMs) * MOVE_SPREAD_SHARE));
    await this.allGone();
    logger.info({ phase: 'moved', connections: count, ms: Date.now() - started }, 'drain: every client has left');

    this.phaseNow = 'closing';
    await this.parts.closeServer();
    await this.parts.closeRest();
    this.phaseNow = 'closed';
    logger.info({ phase: 'closed', ms: Date.now() - started }, 'drain: store closed');
  }

  /** Closes every connection after its started events are answered, in batches over `spreadMs`. */
  private async moveAll(spreadMs: number): Promise<void> {
    const all = [...this.connections];
    const ticks = Math.max(1, Math.floor(spreadMs / MOVE_TICK_MS));
    const batch = Math.max(MOVE_BATCH_MIN, Math.ceil(all.length / ticks));
    const moves: Array<Promise<void>> = [];
    for (let i = 0; i < all.length; i += batch) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, MOVE_TICK_MS));
      for (const conn of all.slice(i, i + batch)) moves.push(this.move(conn));
    }
    await Promise.all(moves);
  }

  private async move(conn: ConnectionState): Promise<void> {
    this.moving.add(conn);
    // Nothing joins the queue once the connection is marked, so its tail is the last event started;
    // the replies' tail is the last answer sent (an ack after its commit).
    await conn.queue.catch(() => undefined);
    await conn.replies.catch(() => undefined);
    this.parts.logger.debug({ sid: conn.socket.id, user: conn.username }, 'drain: closing the transport');
    // The transport, not the namespace: Socket.IO's client reconnects after a lost transport ("transport
    // close") but not after a server-side namespace disconnect. Engine.IO flushes its write buffer first.
    conn.socket.conn.close();
  }

  private allGone(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.gone.delete(done);
        resolve();
      };
      this.gone.add(done);
    });
  }
}
