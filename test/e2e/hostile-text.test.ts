/**
 * Strings from a hostile server reach the terminal only escaped (src/cli/terminal-text.ts printable()).
 *
 * The real CLI (`node dist/cli/main.js`, a separate process) talks to a lying proxy: a raw Socket.IO
 * server that relays every event to a real relay server and back, but rewrites the answer to `users`.
 * Everything else (challenge, login, prekeys) is genuine, so the CLI gets as far as printing.
 *
 * A client that validates server answers may refuse the lie instead of printing it (a typed
 * bad_response error): either outcome passes, as long as no control sequence reaches stdout or stderr
 * raw.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connectUpstream } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity } from '../../src/client/node/identity-file.js';
import { userFolder } from '../../src/client/node/user-folder.js';
import { connectTestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import type { RunResult } from './processes.js';
import { World, useProcesses } from './world.js';

/** Sets the window title (OSC 0 … BEL), clears the screen (CSI 2J), paints red, reverses text (RLO), 8-bit CSI. */
const HOSTILE = '\x1b]0;pwned\x07\x1b[2J\x1b[31mmallory\u202Egnp.exe\u009b1m';
/** The same string as printable() shows it. */
const HOSTILE_ESCAPED = '\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{1b}[31mmallory\\u{202e}gnp.exe\\u{9b}1m';
/** What must never appear raw in the CLI's output: ESC, BEL, C1 controls, bidi controls. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

type Answer = Record<string, unknown> | undefined;

interface LyingProxy {
  url: string;
  close(): Promise<void>;
}

/** A Socket.IO server relaying each connection to `upstreamUrl`, passing every answer through `lie`. */
async function startLyingProxy(upstreamUrl: string, lie: (event: string, answer: Answer) => Answer): Promise<LyingProxy> {
  const http = createServer();
  const ioServer = new Server(http);
  ioServer.on('connection', (socket) => {
    const upstream = connectUpstream(upstreamUrl, { transports: ['websocket'], forceNew: true, reconnection: false });
    upstream.onAny((event: string, ...args: unknown[]) => void socket.emit(event, ...args));
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args.at(-1) === 'function' ? (args.pop() as (answer: Answer) => void) : undefined;
      if (!ack) return void upstream.emit(event, ...args);
      upstream
        .timeout(10_000)
        .emitWithAck(event, ...args)
        .then(
          (answer: Answer) => ack(lie(event, answer)),
          () => ack(undefined),
        );
    });
    socket.on('disconnect', () => upstream.disconnect());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => void ioServer.close(() => resolve())),
  };
}

const procs = useProcesses();
let server: TestServer;
/** alice's key home and working directory; each test points her at its own lying proxy. */
let w: World;
const proxies: LyingProxy[] = [];

beforeAll(async () => {
  server = await startTestServer();
  w = await World.create(procs, 'hostile-text', { serverUrl: server.url });
  // alice has keys on disk and is registered, so `users` needs nothing but a login.
  const { identity } = await loadOrCreateIdentity(userFolder(w.home, 'alice'), 'alice', async () => '');
  const alice = await connectTestClient(server.url, 'alice', { keys: identity.keys });
  await alice.client.close();
});

afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  if (server) {
    await server.stop();
    removeDir(server.dataDir);
  }
});

async function usersThrough(lie: (event: string, answer: Answer) => Answer): Promise<RunResult> {
  const proxy = await startLyingProxy(server.url, lie);
  proxies.push(proxy);
  return w.cli(['users', '--user', 'alice'], { env: { E2EE_CHAT_SERVER: proxy.url } });
}

describe('hostile server strings reach the terminal only escaped', () => {
  it('a user name with escape sequences in the `users` answer is printed escaped (or refused), never raw', async () => {
    const r = await usersThrough((event, answer) =>
      event === 'users' && answer?.ok === true ? { ...answer, users: [...(answer.users as string[]), HOSTILE] } : answer,
    );
    expect(r.stdout + r.stderr, r.proc.describe()).not.toMatch(RAW_CONTROL);
    if (r.code === 0) {
      expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['alice', HOSTILE_ESCAPED]));
    } else {
      // A validating client refuses the answer with a typed error.
      expect(r.code, r.proc.describe()).toBe(1);
      expect(r.stderr).toMatch(/^error \[bad_response\]: /m);
    }
  });

  it("a server error text with escape sequences is printed escaped by the CLI's error line", async () => {
    const r = await usersThrough((event, answer) =>
      event === 'users' ? { ok: false, error: { code: 'bad_request', message: `refused: ${HOSTILE}` } } : answer,
    );
    expect(r.code, r.proc.describe()).toBe(1);
    expect(r.stdout + r.stderr, r.proc.describe()).not.toMatch(RAW_CONTROL);
    expect(r.stderr).toMatch(/^error \[(bad_request|bad_response)\]: /m);
    if (/^error \[bad_request\]/m.test(r.stderr)) expect(r.stderr).toContain(`refused: ${HOSTILE_ESCAPED}`);
  });
});
