/** KeyedSerial: one key's tasks in call order, one after another, a failure not stopping the next; other keys alongside. */
import { describe, expect, it } from 'vitest';
import { KeyedSerial } from '../../src/server/store/keyed-serial.js';

/** A task that finishes when the test says so, recording when it started and ended. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, task: async () => (log.push(`start ${name}`), await opened, log.push(`end ${name}`), name) };
}

describe('KeyedSerial', () => {
  it("runs one key's tasks one at a time in call order, and another key's alongside", async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    const [a1, a2, b1] = [gate(log, 'a1'), gate(log, 'a2'), gate(log, 'b1')];
    const results = [serial.run('a', a1.task), serial.run('a', a2.task), serial.run('b', b1.task)];
    await Promise.resolve();
    await Promise.resolve();
    expect(log).toEqual(['start a1', 'start b1']);
    a2.open(); // a2 may not start before a1 ends, whatever its own readiness
    b1.open();
    await results[2];
    expect(log).toEqual(['start a1', 'start b1', 'end b1']);
    a1.open();
    expect(await Promise.all(results)).toEqual(['a1', 'a2', 'b1']);
    expect(log).toEqual(['start a1', 'start b1', 'end b1', 'end a1', 'start a2', 'end a2']);
  });

  it('starts the next task of a key after one that failed, and passes the failure to its caller only', async () => {
    const serial = new KeyedSerial();
    const failed = serial.run('k', async () => {
      throw new Error('first failed');
    });
    const next = serial.run('k', async () => 'second ran');
    await expect(failed).rejects.toThrow('first failed');
    await expect(next).resolves.toBe('second ran');
  });
});
