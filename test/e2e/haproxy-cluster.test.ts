/**
 * deploy/haproxy.cfg, the configuration docs/DEPLOY.md ships: HAProxy's own checker accepts it, and run
 * (only its certificate, listening port and node addresses replaced) in front of two `e2ee-chat server`
 * nodes on one PostgreSQL and one Redis (as DEPLOY.md sets every node up), it carries a rolling restart: the node the clients are on gets SIGTERM,
 * HAProxy sees its /health turn 503 and takes it out, the node moves its clients, and they come back
 * through HAProxy on the other node and keep chatting with nothing lost and nothing shown twice.
 *
 * The clients are the library with socket.io-client's default transports (long-polling, then the
 * upgrade to WebSocket), through TLS, as the CLI and the web app connect. Without haproxy or openssl,
 * or without PostgreSQL or redis-server, the cases skip loudly, or fail under E2EE_CHAT_REQUIRE_SERVICES=1.
 *
 * Redis is not decoration here: the drain moves the two users at different moments, so for a while the
 * sender's last sends are stored by one node while the recipient is already on the other. Only the
 * wake-up through Redis tells that node (a run without it lost such a message until the next login).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { binaryGate } from '../helpers/binaries.js';
import { selfSignedCertificate } from '../helpers/certificates.js';
import { dropSchemas, postgresGate, TEST_DATABASE_URL, testSchemaName } from '../helpers/postgres.js';
import { redisGate, TestRedis } from '../helpers/redis.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { freePort, REPO_ROOT, type Proc } from './processes.js';
import { useProcesses, World } from './world.js';

const procs = useProcesses();
const tools = binaryGate([
  { name: 'haproxy', versionArgs: ['-v'], apt: 'haproxy' },
  { name: 'openssl', versionArgs: ['version'], apt: 'openssl' },
]);
const database = await postgresGate();
const redisTool = redisGate();
const schema = testSchemaName();
const SHIPPED = readFileSync(join(REPO_ROOT, 'deploy/haproxy.cfg'), 'utf8');

/** The shipped configuration with what a machine's own setup changes replaced; each must be there to be replaced. */
function configFor(replace: { pemFile: string; bind?: string; nodes?: readonly [string, string] }): string {
  const swaps: Array<[string, string]> = [['/etc/haproxy/certs/chat.pem', replace.pemFile]];
  if (replace.bind) swaps.push(['bind :443 ', `bind ${replace.bind} `]);
  if (replace.nodes) swaps.push(['server node1 10.0.0.11:5001', `server node1 ${replace.nodes[0]}`], ['server node2 10.0.0.12:5001', `server node2 ${replace.nodes[1]}`]);
  let text = SHIPPED;
  for (const [from, to] of swaps) {
    expect(text, `deploy/haproxy.cfg no longer contains "${from}"`).toContain(from);
    text = text.replace(from, to);
  }
  return text;
}

/** GET over TLS trusting `ca`: the status and the body. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** A node's log line saying `user` logged in on it. */
const loggedIn = (user: string) => new RegExp(`"user":"${user}","device":1,"protocol":2,[^\\n]*"msg":"authenticated"`);

describe.skipIf(tools.skip)('deploy/haproxy.cfg', () => {
  beforeAll(() => {
    if (tools.missing) throw new Error(`${tools.missing} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
  });

  it("passes HAProxy's own configuration check", () => {
    const dir = procs.tempDir('haproxy-check');
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, configFor({ pemFile: selfSignedCertificate(dir).pemFile }));
    const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout + check.stderr).toMatch(/Configuration file is valid/);
  });
});

describe.skipIf(tools.skip || database.skip || redisTool.skip)('two nodes on PostgreSQL behind deploy/haproxy.cfg', () => {
  let haproxy: ChildProcess | undefined;
  let haproxyLog = '';
  let redis: TestRedis | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    if (tools.missing) throw new Error(`${tools.missing} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    if (redisTool.unavailable) throw new Error(`${redisTool.unavailable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    if (database.unreachable) throw new Error(`${database.unreachable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.end();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.client.close();
    if (haproxy && haproxy.exitCode === null) {
      const gone = new Promise((resolve) => haproxy!.once('exit', resolve));
      haproxy.kill('SIGKILL');
      await gone;
    }
    await redis?.kill();
  });
  afterAll(async () => {
    if (!database.unreachable) await dropSchemas([schema]);
  });

  it('moves the clients of a draining node to the other one, losing and repeating nothing', async () => {
    const dir = procs.tempDir('haproxy-cluster');
    const { pemFile, cert } = selfSignedCertificate(dir);
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    redis = new TestRedis(await freePort());
    await redis.start();
    // The settings docs/DEPLOY.md gives every node; the rate limit only keeps the sends going while the node drains.
    const nodeEnv = {
      E2EE_CHAT_DATABASE_URL: url.toString(),
      E2EE_CHAT_REDIS_URL: redis.url,
      E2EE_CHAT_DRAIN_SECONDS: '10',
      E2EE_CHAT_DRAIN_NOTICE_SECONDS: '3',
      E2EE_CHAT_RATE_LIMIT: '20',
      E2EE_CHAT_RATE_BURST: '5',
    };
    // One after the other: the first creates the schema's tables.
    const worlds = [await World.create(procs, 'node1'), await World.create(procs, 'node2')];
    const nodes: Proc[] = [];
    for (const [i, w] of worlds.entries()) nodes.push(await w.startServer({ env: nodeEnv, label: `node${i + 1}` }));

    const port = await freePort();
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, configFor({ pemFile, bind: `127.0.0.1:${port}`, nodes: [`127.0.0.1:${worlds[0]!.port}`, `127.0.0.1:${worlds[1]!.port}`] }));
    haproxy = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.setEncoding('utf8').on('data', (chunk: string) => (haproxyLog += chunk));
    haproxy.stderr!.setEncoding('utf8').on('data', (chunk: string) => (haproxyLog += chunk));
    const front = `https://127.0.0.1:${port}`;
    await waitUntil(() => httpsGet(`${front}/health`, cert).then((r) => (r.status === 200 ? r : undefined), () => undefined), 10_000, `HAProxy answering at ${front}\n${haproxyLog}`);

    // Socket.IO's default transports (polling, then WebSocket), over TLS, as the CLI connects.
    const socketOptions = { ca: cert };
    const ratchet = new MemoryRatchetStore();
    const ben = await connectTestClient(front, 'ben', { socketOptions, ratchet });
    const ann = await connectTestClient(front, 'ann', { socketOptions });
    clients.push(ann, ben);
    // Both come from 127.0.0.1, so the source hash puts them on the same node.
    const onNode = await Promise.any(nodes.map((n, i) => n.waitFor('stdout', loggedIn('ann'), 10_000).then(() => i)));
    const [drained, other] = [nodes[onNode]!, nodes[1 - onNode]!];
    await drained.waitFor('stdout', loggedIn('ben'));
    await ann.client.send('ben', 'before the restart');
    await ben.waitFor(1, 10_000);

    const acknowledged: string[] = [];
    ann.client.on('sent', (m) => acknowledged.push(m.id));
    const total = 60;
    for (let i = 0; i < total; i++) void ann.client.send('ben', `message ${i}`);
    await waitUntil(() => (acknowledged.length >= 5 ? true : undefined), 15_000, 'five acknowledged sends');
    drained.kill('SIGTERM');
    const exit = await drained.waitForExit(15_000);
    expect(exit.code, drained.describe()).toBe(0);
    // Nothing failed on the way out (a write after the pool ended, say).
    expect(drained.stdout.split('\n').filter((l) => /^\{"level":(4|5|6)\d/.test(l))).toEqual([]);
    expect(acknowledged.length).toBeLessThan(total);

    // Both are back, through HAProxy, on the node that stayed; the sender's outbox went on there.
    await other.waitFor('stdout', loggedIn('ann'), 20_000);
    await other.waitFor('stdout', loggedIn('ben'), 20_000);
    await waitUntil(() => (acknowledged.length >= total ? true : undefined), 30_000, 'every send acknowledged');
    await ann.client.send('ben', 'barrier');
    await waitUntil(() => (ben.received.some((m) => m.body === 'barrier') ? true : undefined), 20_000, 'the barrier message');
    expect(ben.received.map((m) => m.body)).toEqual(['before the restart', ...Array.from({ length: total }, (_, i) => `message ${i}`), 'barrier']);
    const shown = (await ben.messages.history({ peer: 'ann' })).filter((r) => r.direction === 'in').map((r) => r.body);
    expect(shown).toEqual(ben.received.map((m) => m.body));
    // HAProxy took the node out on its health check's 503 while it was draining, before it was gone.
    expect(haproxyLog).toMatch(new RegExp(`Server chat_nodes/node${onNode + 1} is DOWN, reason: Layer7 wrong status, code: 503`));
    expect((await httpsGet(`${front}/health`, cert)).status).toBe(200);
    expect((await other.stop()).code).toBe(0);
    expect(other.stdout.split('\n').filter((l) => /^\{"level":(4|5|6)\d/.test(l))).toEqual([]);
  }, 120_000);
});
