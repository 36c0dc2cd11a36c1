/**
 * One party's end of a joined link slot (docs/PROTOCOL.md §18.3): the frames the other device relayed to
 * us, in order, as bytes; our frames out through `link.send`; and the slot's end (`link.closed`, or the
 * server refusing a frame with `unknown_link`), which fails whatever waits with `link_failed`. Both roles
 * use it: the new device over its LinkConnection, the primary over its logged-in connection.
 *
 * Frames are taken only for this slot; a frame that is not base64url never reaches the state machines,
 * which refuse anything out of order themselves (link-initiator.ts, link-responder.ts).
 */
import { base64urlDecode, base64urlEncode, type Bytes } from '../crypto/bytes.js';
import { ChatError } from '../protocol/errors.js';
import { LINK_MAX_FRAMES } from '../protocol/limits.js';
import type { ClientEventPayloadV2 } from '../protocol/client-event-schemas.js';
import type { LinkCloseReason } from '../protocol/events-v2.js';
import type { AnswerOfV2, ServerEventNameV2, ServerEventOfV2 } from '../protocol/server-event-schemas.js';

/** What a slot needs of a connection: calls and schema-checked events (ServerConnection and LinkConnection both have them). */
export interface LinkTransport {
  call<E extends 'link.send' | 'link.close'>(event: E, payload: ClientEventPayloadV2<E>): Promise<{ ok: true } & AnswerOfV2<E>>;
  onEvent<E extends ServerEventNameV2>(event: E, handler: (payload: ServerEventOfV2<E>) => void): () => void;
}

/** How long one device waits for the other's next frame once both are in the run. */
export const LINK_STEP_TIMEOUT_MS = 60_000;

const CLOSE_REASONS: Record<LinkCloseReason, string> = {
  closed: 'the other device ended the link',
  disconnected: 'the other device went away',
  expired: 'the link code expired',
};

export class LinkSlot {
  readonly #frames: Bytes[] = [];
  #waiting: { resolve: (frame: Bytes) => void; reject: (err: ChatError) => void; timer: ReturnType<typeof setTimeout> } | undefined;
  #ended: ChatError | undefined;
  /** Why the server said the slot closed (`link.closed`), when it did. */
  #closedBy: LinkCloseReason | undefined;
  readonly #unsubscribe: Array<() => void>;
  readonly #endListeners = new Set<(reason: ChatError) => void>();

  constructor(
    private readonly transport: LinkTransport,
    readonly slot: string,
  ) {
    this.#unsubscribe = [
      transport.onEvent('link.data', (e) => {
        if (e.slot !== this.slot || this.#ended) return;
        // Frames wait here until the run asks for them (the new device may wait minutes for the join): a
        // server pushing more than a run can take is ending the run, not filling our memory.
        if (this.#frames.length >= LINK_MAX_FRAMES) return this.end(new ChatError('link_failed', `the server relayed more than ${LINK_MAX_FRAMES} link frames`));
        this.#arrived(base64urlDecode(e.data));
      }),
      transport.onEvent('link.closed', (e) => {
        if (e.slot !== this.slot) return;
        this.#closedBy ??= e.reason;
        this.end(new ChatError('link_failed', `${CLOSE_REASONS[e.reason]}; nothing was changed`));
      }),
    ];
  }

  #arrived(frame: Bytes): void {
    const waiting = this.#waiting;
    if (!waiting) return void this.#frames.push(frame);
    this.#waiting = undefined;
    clearTimeout(waiting.timer);
    waiting.resolve(frame);
  }

  /** The next frame from the other device; fails with `link_failed` when the slot ends or none comes within `timeoutMs`. */
  next(timeoutMs: number, waitingFor: string): Promise<Bytes> {
    const queued = this.#frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.reject(this.#ended);
    if (this.#waiting) return Promise.reject(new Error('LinkSlot.next: a frame is awaited already'));
    return new Promise<Bytes>((resolve, reject) => {
      const timer = setTimeout(() => this.end(new ChatError('link_failed', `no answer from the other device (${waitingFor}) within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      this.#waiting = { resolve, reject, timer };
    });
  }

  /** Relays our frames, in order. A slot the server no longer has (`unknown_link`) is `link_failed`. */
  async send(frames: readonly Bytes[]): Promise<void> {
    for (const frame of frames) {
      if (this.#ended) throw this.#ended;
      try {
        await this.transport.call('link.send', { slot: this.slot, data: base64urlEncode(frame) });
      } catch (err) {
        const failure = new ChatError('link_failed', 'the server no longer relays this link (the other device went away, or the code expired)', { cause: err });
        this.end(failure);
        throw failure;
      }
    }
  }

  /** Calls `listener` once when the slot ends (at once if it has); returns the unsubscribe function. */
  onEnd(listener: (reason: ChatError) => void): () => void {
    if (this.#ended) {
      listener(this.#ended);
      return () => undefined;
    }
    this.#endListeners.add(listener);
    return () => void this.#endListeners.delete(listener);
  }

  /** Ends our side: fails a waiting `next` with `reason` and stops listening. */
  end(reason: ChatError = new ChatError('link_failed', 'the link was ended')): void {
    if (this.#ended) return;
    this.#ended = reason;
    for (const listener of [...this.#endListeners]) listener(reason);
    this.#endListeners.clear();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(this.#ended);
    }
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#frames.length = 0;
  }

  /**
   * Waits for the other device to close the slot: resolves with the reason the server gave (`closed`
   * when the other device asked, after it took everything in), or `timeout` when nothing came.
   */
  closedByOther(timeoutMs: number): Promise<LinkCloseReason | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve('timeout');
      }, timeoutMs);
      const off = this.onEnd(() => {
        clearTimeout(timer);
        resolve(this.#closedBy ?? 'timeout');
      });
    });
  }

  /** Ends our side and asks the server to close the slot (best effort: it closes it anyway when we go). */
  async close(): Promise<void> {
    this.end();
    await this.transport.call('link.close', { slot: this.slot }).catch(() => undefined);
  }
}
