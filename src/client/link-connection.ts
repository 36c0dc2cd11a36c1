/**
 * The connection of a device being linked (docs/PROTOCOL.md §18.3): it has no identity on the server yet,
 * so it never logs in; it opens a link slot and relays frames until the primary has provisioned it. Unlike
 * ServerConnection it does not reconnect: the slot belongs to this one connection (the server closes it
 * when the connection drops), so a dropped connection ends the link and the user starts again with a new
 * code.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientEventPayloadV2 } from '../protocol/client-event-schemas.js';
import { ChatError } from '../protocol/errors.js';
import type { ClientEventNameV2 } from '../protocol/events-v2.js';
import { DEFAULT_ACK_TIMEOUT_MS } from '../protocol/limits.js';
import type { AnswerOfV2, ServerEventNameV2, ServerEventOfV2 } from '../protocol/server-event-schemas.js';
import type { LinkTransport } from './link-slot.js';
import { CLIENT_PROTOCOL } from './server-connection.js';
import { callServer, onServerEvent } from './socket-calls.js';

export interface LinkConnectionOptions {
  url: string;
  ackTimeoutMs?: number;
  /** Passed to socket.io-client (e.g. transports). */
  socketOptions?: Parameters<typeof io>[1];
  /** Malformed server events are dropped and reported here. */
  onDebug?: (message: string, cause?: unknown) => void;
}

export class LinkConnection implements LinkTransport {
  readonly #socket: Socket;
  readonly #ackTimeoutMs: number;
  readonly #onDebug: (message: string, cause?: unknown) => void;

  private constructor(socket: Socket, options: LinkConnectionOptions) {
    this.#socket = socket;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.#onDebug = options.onDebug ?? (() => undefined);
  }

  /** Connects and checks that the server speaks protocol 2 (a 0.1 server has no devices to link). */
  static async open(options: LinkConnectionOptions): Promise<LinkConnection> {
    const socket = io(options.url, { reconnection: false, ...options.socketOptions, autoConnect: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('connect_error');
        resolve();
      });
      socket.once('connect_error', (err) => {
        socket.disconnect();
        reject(new ChatError('not_connected', `cannot reach the server at ${options.url}: ${err.message}`, { cause: err }));
      });
      socket.connect();
    });
    const connection = new LinkConnection(socket, options);
    try {
      const { protocols } = await connection.call('challenge', {});
      if (!protocols?.includes(CLIENT_PROTOCOL)) {
        throw new ChatError('unsupported_server', `the server at ${options.url} does not speak protocol ${CLIENT_PROTOCOL} (it runs e2ee-chat 0.1 or older): it cannot link devices`);
      }
    } catch (err) {
      connection.close();
      throw err;
    }
    return connection;
  }

  call<E extends ClientEventNameV2>(event: E, payload: ClientEventPayloadV2<E>): Promise<{ ok: true } & AnswerOfV2<E>> {
    return callServer(this.#socket, event, payload, this.#ackTimeoutMs);
  }

  onEvent<E extends ServerEventNameV2>(event: E, handler: (payload: ServerEventOfV2<E>) => void): () => void {
    return onServerEvent(this.#socket, event, handler, this.#onDebug);
  }

  /** Calls `handler` once if the connection drops (not after close()). */
  onDropped(handler: (reason: string) => void): void {
    this.#socket.once('disconnect', (reason) => {
      if (reason !== 'io client disconnect') handler(reason);
    });
  }

  close(): void {
    this.#socket.disconnect();
  }
}
