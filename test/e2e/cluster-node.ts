/**
 * One `e2ee-chat server` process as a node of a cluster, as docs/DEPLOY.md sets every node up: its own
 * data folder (nothing in it is shared), the cluster's PostgreSQL and Redis, and the delivery poll and
 * presence lease a test chooses (short, so a lost wake-up or a dead node shows within the test).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, type Proc, type Processes } from './processes.js';
import { SERVER_LISTENING } from './world.js';

export interface ClusterNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly proc: Proc;
}

export interface ClusterNodeSettings {
  databaseUrl: string;
  redisUrl: string;
  pollMs: number;
  leaseMs: number;
}

/** Starts the node in a folder of its own under `dir` and resolves once it listens. */
export async function startClusterNode(procs: Processes, dir: string, name: string, settings: ClusterNodeSettings): Promise<ClusterNode> {
  const port = await freePort();
  const data = join(dir, name);
  mkdirSync(data);
  const proc = procs.spawn(`node ${name}`, ['server'], {
    cwd: dir,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      E2EE_CHAT_DATA: data,
      E2EE_CHAT_DATABASE_URL: settings.databaseUrl,
      E2EE_CHAT_REDIS_URL: settings.redisUrl,
      E2EE_CHAT_DELIVERY_POLL_MS: String(settings.pollMs),
      E2EE_CHAT_PRESENCE_LEASE_MS: String(settings.leaseMs),
    },
  });
  await proc.waitFor('stdout', SERVER_LISTENING);
  return { name, port, url: `http://127.0.0.1:${port}`, proc };
}
