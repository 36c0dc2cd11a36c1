/**
 * A connection that closes while its login is being checked is not bound afterwards: the user does not
 * stay online as a ghost, its room keeps no dead member and no delivery starts for it.
 */
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { loginMessage } from '../../src/protocol/auth-message.js';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { loadServerConfig } from '../../src/server/config.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import type { UserRecord } from '../../src/server/store/server-store.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir } from '../helpers/test-server.js';

/** A store whose user lookups wait while `gate` is set: a login's proof check held open on purpose. */
class GatedStore extends SqliteServerStore {
  gate: Promise<void> | null = null;
  held = 0;

  override async getUser(username: string): Promise<UserRecord | undefined> {
    if (this.gate) {
      this.held++;
      await this.gate;
    }
    return super.getUser(username);
  }
}

describe('a login whose connection closed before it was checked', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-login-race-'));
  const store = new GatedStore(dataDir);
  const sockets: Socket[] = [];
  let server: ChatServer;
  let url: string;
  let keys: UserKeyPairs;

  beforeAll(async () => {
    void installNodeCrypto({ mlkem: false });
    server = createChatServer({
      config: { ...loadServerConfig({}), host: '127.0.0.1', port: 0, dataDir },
      store,
      logger: pino({ level: 'silent' }),
    });
    url = `http://127.0.0.1:${(await server.listen()).port}`;
    keys = await keysFor();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await server.close();
    removeDir(dataDir);
  });

  const connect = async () => {
    const s = await rawSocket(url);
    sockets.push(s);
    return s;
  };

  it('binds nothing: the user is not online, the room has no member, no delivery runs', async () => {
    const first = await connect();
    expect((await registerRaw(first, 'gina', keys)).ok).toBe(true);
    first.close();
    const observer = await connect();
    expect((await registerRaw(observer, 'olaf', keys)).ok).toBe(true);
    await waitUntil(async () => (((await call(observer, 'users', {})).users as string[]).includes('gina') ? undefined : true), 5000, 'gina offline');

    const late = await connect();
    const lateId = late.id!;
    const { challenge } = (await call(late, 'challenge', {})) as RawAck & { challenge: string };
    let release!: () => void;
    store.gate = new Promise<void>((resolve) => (release = resolve));
    const signature = base64urlEncode(ed25519Sign(loginMessage({ challenge, username: 'gina' }), base64urlDecode(keys.signing.d)));
    late.emit('login', { username: 'gina', signature });
    await waitUntil(() => (store.held === 1 ? true : undefined), 5000, 'the login held at its lookup');
    late.close();
    await waitUntil(() => (server.io.sockets.sockets.has(lateId) ? undefined : true), 5000, 'the server to see the close');
    store.gate = null;
    release();

    // Barrier: the observer's round trip starts after the held login resumed and ends well after it finished.
    expect((await call(observer, 'users', {})).users).toEqual(['olaf']);
    expect(server.io.sockets.adapter.rooms.has('user:gina')).toBe(false);
    const health = (await (await fetch(`${url}/health`)).json()) as { onlineUsers: number };
    expect(health.onlineUsers).toBe(1);
  });
});
