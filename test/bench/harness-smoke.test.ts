import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { postgresGate } from '../helpers/postgres.js';
import { redisGate } from '../helpers/redis.js';

const root = join(import.meta.dirname, '..', '..');

/**
 * The benchmarks are not tests, but their harness must not rot: run every section with tiny counts and
 * check it reports each figure with its baseline. No timing is asserted.
 */
describe('bench harness', () => {
  it('runs every section at smoke size and prints figures as JSON with the environment', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(root, 'node_modules', 'vite-node', 'vite-node.mjs'), join(root, 'bench', 'main.ts'), '--', '--smoke', '--json'],
        { cwd: root, timeout: 360_000, maxBuffer: 10 * 2 ** 20 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      ),
    );
    const report = JSON.parse(stdout) as {
      environment: { node: string; cores: number };
      figures: Array<{ section: string; name: string; value: number; baseline?: { value: number } }>;
    };
    expect(report.environment.node).toBe(process.version);
    expect(report.environment.cores).toBeGreaterThan(0);
    // The cluster section needs PostgreSQL and redis-server; without them it says so and reports nothing.
    const cluster = (await postgresGate()).skip || redisGate().skip ? [] : ['cluster'];
    expect(new Set(report.figures.map((f) => f.section))).toEqual(new Set(['relay', 'durable', 'hybrid', 'ratchet', 'fanout', 'files', 'groups', 'web', ...cluster]));
    for (const f of report.figures) expect(Number.isFinite(f.value), `${f.section}: ${f.name}`).toBe(true);
    const throughput = report.figures.find((f) => f.name.startsWith('throughput,'))!;
    expect(throughput.baseline!.value).toBeGreaterThan(0);
    // The groups section's relay half: a group message through our server beside its pairwise sends.
    const viaServer = report.figures.find((f) => f.section === 'groups' && f.name.startsWith('group message via our server'));
    expect(viaServer?.baseline?.value).toBeGreaterThan(0);
  }, 390_000);
});
