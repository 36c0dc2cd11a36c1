/** A real server on an ephemeral port with a real SQLite store in a temporary folder. */
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { loadServerConfig, type ServerConfig } from '../../src/server/config.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  server: ChatServer;
  store: SqliteServerStore;
  /** Every event a client sent, with its arguments, as the server received them. */
  frames: Array<{ event: string; args: unknown[] }>;
  stop(): Promise<void>;
}

export async function startTestServer(overrides: Partial<ServerConfig> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'e2ee-chat-server-'));
  const config = { ...loadServerConfig({}), host: '127.0.0.1', port: 0, dataDir: dir, ...overrides };
  // The server process's primitives, chosen as its entry point does (src/cli/main.ts); no ML-KEM there.
  void installNodeCrypto({ mlkem: false });
  const store = new SqliteServerStore(dir);
  const frames: TestServer['frames'] = [];
  const server = createChatServer({
    config,
    store,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    onClientEvent: (event, args) => frames.push({ event, args: args.filter((a) => typeof a !== 'function') }),
  });
  const address = await server.listen();
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    dataDir: dir,
    server,
    store,
    frames,
    stop: () => server.close(),
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
