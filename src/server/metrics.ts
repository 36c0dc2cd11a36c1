/**
 * `GET /metrics` in Prometheus's text format (prom-client). Each server has its own registry, never
 * prom-client's global one: tests run several servers in one process, and a second server registering
 * the same names in a shared registry would throw. Labels carry fixed vocabularies only (protocol
 * version, error code, store operation), never anything a client typed, so a scrape names no user.
 *
 * Queue depth is the store's running byte total (serverQueueBytes: one row in SQLite, 16 summed in
 * PostgreSQL), read at scrape time: the whole server's, so every node of a cluster reports the same. A
 * count of envelopes would need a second running total; bytes are what the server-wide cap limits.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorCode } from '../protocol/errors.js';
import type { AckV2, ProtocolVersion } from '../protocol/events-v2.js';

/** The store calls that are timed: the ones on every message's path. */
export type StoreOperation = 'enqueue' | 'enqueue_many' | 'acknowledge';

/** What the gauges read from the server at scrape time. */
export interface MetricsSource {
  /** Open Socket.IO connections. */
  connections(): number;
  /** Connections logged in as a device (their delivery pump is running). */
  loggedInDevices(): number;
  /** Bytes of envelopes queued on the whole server (the store's total). */
  queuedBytes(): Promise<number>;
}

// Seconds, from a fast in-memory store (well under a millisecond) to a stalled disk or database.
const STORE_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly accepted: Counter<'protocol'>;
  private readonly delivered: Counter;
  private readonly acknowledgedEnvelopes: Counter;
  private readonly refusals: Counter<'code'>;
  private readonly storeLatency: Histogram<'operation'>;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    new Gauge({
      name: 'e2ee_chat_connected_sockets',
      help: 'Open Socket.IO connections on this node',
      registers,
      collect() {
        this.set(source.connections());
      },
    });
    new Gauge({
      name: 'e2ee_chat_logged_in_devices',
      help: 'Connections on this node logged in as a device',
      registers,
      collect() {
        this.set(source.loggedInDevices());
      },
    });
    new Gauge({
      name: 'e2ee_chat_queued_bytes',
      help: 'Bytes of envelopes queued for delivery on the whole server (the store total; the same on every node)',
      registers,
      async collect() {
        try {
          this.set(await source.queuedBytes());
        } catch {
          // The store does not answer: /health reports that; the scrape still serves everything else.
        }
      },
    });
    this.accepted = new Counter({
      name: 'e2ee_chat_messages_accepted_total',
      help: 'Sends stored and acknowledged to their sender (resends of an accepted message not counted), by protocol',
      labelNames: ['protocol'],
      registers,
    });
    this.delivered = new Counter({ name: 'e2ee_chat_messages_delivered_total', help: 'Envelopes pushed to a connection', registers });
    this.acknowledgedEnvelopes = new Counter({
      name: 'e2ee_chat_acknowledged_envelopes_total',
      help: 'Envelopes removed from the queue by their device acknowledging them',
      registers,
    });
    this.refusals = new Counter({ name: 'e2ee_chat_refusals_total', help: 'Events answered with an error, by error code', labelNames: ['code'], registers });
    this.storeLatency = new Histogram({
      name: 'e2ee_chat_store_operation_seconds',
      help: 'Time from a store write being submitted to its result, by operation',
      labelNames: ['operation'],
      buckets: STORE_LATENCY_BUCKETS,
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** Times a store call from submission to settlement (refusals and failures included) and passes it on. */
  timed<T>(operation: StoreOperation, call: Promise<T>): Promise<T> {
    const stop = this.storeLatency.startTimer({ operation });
    call.then(
      () => stop(),
      () => stop(),
    );
    return call;
  }

  messageDelivered(): void {
    this.delivered.inc();
  }

  /**
   * Every answer the dispatcher sends. `event` is whatever the client named: it picks a counter here and
   * is never a label.
   */
  answered(event: string, protocol: ProtocolVersion, body: AckV2<object>): void {
    if (!body.ok) {
      this.refusals.inc({ code: body.error.code satisfies ErrorCode });
      return;
    }
    if (event === 'send' && !('duplicate' in body && body.duplicate === true)) this.accepted.inc({ protocol: String(protocol) });
    if (event === 'ack' && 'acknowledged' in body && typeof body.acknowledged === 'number') this.acknowledgedEnvelopes.inc(body.acknowledged);
  }
}
