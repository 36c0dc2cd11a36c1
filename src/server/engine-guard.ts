/**
 * Engine.IO connections that joined the namespace: from then on the namespace socket's auth timer
 * guards them. One that never sends Socket.IO's CONNECT packet has no namespace socket (and so no auth
 * timer) but holds a descriptor and memory all the same: it is closed at the auth timeout here.
 */
import type { Logger } from 'pino';
import type { ChatIO } from './connection.js';

interface EngineSocket {
  id: string;
  once(event: 'close', f: () => void): void;
  close(): void;
}

/** Starts guarding `io`'s engine; call the returned function when a namespace socket joins. */
export function closeEnginesThatNeverJoin(io: ChatIO, authTimeoutMs: number, logger: Logger): (engineSocket: object) => void {
  const joinedEngines = new WeakSet<object>();
  io.engine.on('connection', (engineSocket: EngineSocket) => {
    const timer = setTimeout(() => {
      if (joinedEngines.has(engineSocket)) return;
      logger.debug({ engineId: engineSocket.id }, 'dropping engine connection that never joined the namespace');
      engineSocket.close();
    }, authTimeoutMs);
    engineSocket.once('close', () => clearTimeout(timer));
  });
  return (engineSocket) => joinedEngines.add(engineSocket);
}
