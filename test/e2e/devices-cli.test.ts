/**
 * End to end, real processes: `e2ee-chat devices` lists the user's devices from the signed list its
 * client verified, this one marked (issue 10, item 3). A user made by `receive` has its primary alone.
 */
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

describe('e2ee-chat devices', () => {
  it('lists the primary of a user made by receive, marked current; --json gives one device line', async () => {
    const w = await World.create(procs, 'devices');
    await w.startServer();
    await w.createUser('alice');

    const listed = await w.cli(['devices', '--user', 'alice']);
    expect(listed.code, listed.proc.describe()).toBe(0);
    expect(listed.stdout).toMatch(/^\* 1  primary  added \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  last seen now\n$/);

    const json = await w.cli(['devices', '--user', 'alice', '--json']);
    expect(json.code, json.proc.describe()).toBe(0);
    const lines = json.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ type: 'device', device: 1, name: 'primary', addedAt: expect.any(Number), lastSeenAt: expect.any(Number), current: true });

    const help = await w.cli(['devices', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: e2ee-chat devices /m);
    expect(help.stdout).toMatch(/server's word/);
  }, 60_000);
});
