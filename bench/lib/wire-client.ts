/**
 * Load-generator clients speaking the wire protocol directly (docs/PROTOCOL.md), with envelopes of the
 * right shape and size: the server never decrypts, so the relay's cost does not depend on real crypto.
 */
import { io, type Socket } from 'socket.io-client';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { RECEIPT_BATCHES_HANDSHAKE } from '../../src/protocol/receipt-batches.js';
import type { HybridEnvelope } from '../../src/protocol/schemas.js';
import { loginRaw, registerRaw } from '../../test/helpers/test-clients.js';

/** Generous: thousands of clients logging in at once queue behind the server's signature checks. */
const CALL_TIMEOUT_MS = 120_000;

/** Every load client asks for receipts in batches (docs/PROTOCOL.md §7.12), as our client does. */
export async function connect(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { [RECEIPT_BATCHES_HANDSHAKE]: true } });
  await new Promise<void>((res, rej) => {
    socket.once('connect', () => res());
    socket.once('connect_error', rej);
  });
  return socket;
}

/**
 * Registers (first time) or logs in `username` on a new connection. `beforeLogin` runs on the connected
 * socket first: the server starts delivering the backlog as soon as the login succeeds, before its ack.
 */
export async function authenticated(url: string, username: string, keys: UserKeyPairs, beforeLogin?: (s: Socket) => void): Promise<Socket> {
  const socket = await connect(url);
  beforeLogin?.(socket);
  let ack = await loginRaw(socket, username, keys, CALL_TIMEOUT_MS);
  if (!ack.ok && ack.error?.code === 'unknown_user') ack = await registerRaw(socket, username, keys, CALL_TIMEOUT_MS);
  if (!ack.ok) throw new Error(`login ${username}: ${ack.error?.code}`);
  return socket;
}

/** A well-formed hybrid envelope whose JSON is about `bytes` long (random content). */
export function fakeEnvelope(bytes = 1024): HybridEnvelope {
  const fixed = 420; // everything but the ciphertext, for the lengths below
  const ciphertextChars = Math.max(22, bytes - fixed);
  return {
    type: 'hybrid',
    v: 1,
    jwe: {
      protected: base64urlEncode(new TextEncoder().encode('{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","cty":"e2ee-chat.message+jws"}')),
      encrypted_key: base64urlEncode(randomBytes(256)),
      iv: base64urlEncode(randomBytes(16)),
      // Whole AES blocks: the server refuses a CBC ciphertext that is not (docs/PROTOCOL.md §8.3).
      ciphertext: base64urlEncode(randomBytes(16 * Math.max(1, Math.floor((ciphertextChars * 3) / 4 / 16)))),
      tag: base64urlEncode(randomBytes(32)),
    },
  };
}

export function newClientId(): string {
  return base64urlEncode(randomBytes(16));
}

/**
 * Sends `count` envelopes keeping `window` unacknowledged; resolves when the last one is acknowledged.
 */
export async function pipelinedSends(socket: Socket, to: string, count: number, window: number, envelope: HybridEnvelope): Promise<void> {
  let next = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (next < count && next - done < window) {
        next++;
        socket.emit('send', { to, id: newClientId(), envelope }, (ack: { ok: boolean; error?: { code: string } }) => {
          if (!ack.ok) return reject(new Error(`send refused: ${ack.error?.code}`));
          if (++done === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
}

/** Receives `count` messages on `socket`, acknowledging in batches; resolves when all are acknowledged. */
export function receiveAndAck(socket: Socket, count: number, batch = 200): Promise<void> {
  return new Promise((resolve) => {
    let received = 0;
    let acked = 0;
    let pending: string[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      while (pending.length > 0) {
        const ids = pending.splice(0, batch);
        socket.emit('ack', { ids }, () => {
          acked += ids.length;
          if (acked >= count) {
            socket.off('message', onMessage);
            resolve();
          }
        });
      }
    };
    const onMessage = (m: { id: string }) => {
      received++;
      pending.push(m.id);
      if (pending.length >= batch || received === count) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    };
    socket.on('message', onMessage);
  });
}
