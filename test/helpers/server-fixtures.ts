/**
 * Servers shared by the tests of one describe block (or file), with the hooks that start and stop them:
 * call `useTestServer()` or `useHostileServer()` where hooks may be registered. Both start before the
 * first test and, after the last one, close every client handed to `track`, then the servers (deleting
 * the real server's data folder).
 */
import { afterAll, beforeAll } from 'vitest';
import { HostileServer } from './hostile-server.js';
import type { TestClient } from './test-clients.js';
import { removeDir, startTestServer, type TestServer } from './test-server.js';

export interface TestServerFixture {
  /** The real server (valid from beforeAll on). */
  readonly srv: TestServer;
  /** Closes `client` after the last test; returns it, so `track(await connectTestClient(...))` reads well. */
  track(client: TestClient): TestClient;
}

export interface HostileServerFixture extends TestServerFixture {
  /** The lying proxy in front of `srv` (valid from beforeAll on). */
  readonly hostile: HostileServer;
}

/** A real test server. */
export function useTestServer(): TestServerFixture {
  return useServers(false);
}

/**
 * A real test server and a HostileServer in front of it. Clients that should see the truth connect to
 * `srv.url`, victims to `hostile.url`.
 */
export function useHostileServer(): HostileServerFixture {
  return useServers(true);
}

function useServers(withHostile: true): HostileServerFixture;
function useServers(withHostile: false): TestServerFixture;
function useServers(withHostile: boolean): HostileServerFixture | TestServerFixture {
  let srv: TestServer | undefined;
  let hostile: HostileServer | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    srv = await startTestServer();
    if (withHostile) hostile = await HostileServer.start(srv.url);
  });
  // Clients first (some talk through the liar), then the liar, then the server it stands in front of.
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
  const fixture: TestServerFixture = {
    get srv() {
      return started(srv, 'the test server');
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
  if (!withHostile) return fixture;
  return Object.defineProperty(fixture, 'hostile', { get: () => started(hostile, 'the hostile server'), enumerable: true }) as HostileServerFixture;
}
