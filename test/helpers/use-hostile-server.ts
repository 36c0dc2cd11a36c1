/**
 * A real test server and a HostileServer in front of it, shared by the tests of one describe block (or
 * file): call `useHostileServer()` where hooks may be registered. It starts both before the first test
 * and, after the last one, closes every client handed to `track`, then the liar, then the server (and
 * deletes its data folder). Clients that should see the truth connect to `srv.url`, victims to
 * `hostile.url`.
 */
import { afterAll, beforeAll } from 'vitest';
import { HostileServer } from './hostile-server.js';
import type { TestClient } from './test-clients.js';
import { removeDir, startTestServer, type TestServer } from './test-server.js';

export interface HostileServerFixture {
  /** The real server (valid from beforeAll on). */
  readonly srv: TestServer;
  /** The lying proxy in front of `srv` (valid from beforeAll on). */
  readonly hostile: HostileServer;
  /** Closes `client` after the last test; returns it, so `track(await connectTestClient(...))` reads well. */
  track(client: TestClient): TestClient;
}

export function useHostileServer(): HostileServerFixture {
  let srv: TestServer | undefined;
  let hostile: HostileServer | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    srv = await startTestServer();
    hostile = await HostileServer.start(srv.url);
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.client.close()));
    await hostile?.close();
    if (srv) {
      await srv.stop();
      removeDir(srv.dataDir);
    }
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started yet: use it inside a test or a later hook`);
    return value;
  };
  return {
    get srv() {
      return started(srv, 'the test server');
    },
    get hostile() {
      return started(hostile, 'the hostile server');
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
}
