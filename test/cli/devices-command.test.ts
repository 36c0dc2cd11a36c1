/**
 * The lines `e2ee-chat devices` prints: one per device, this one marked with `*`, names escaped (they are
 * anyone's text once public), columns aligned, dates in local time as `history` prints them.
 */
import { describe, expect, it } from 'vitest';
import { deviceLines } from '../../src/cli/devices-command.js';
import { localTime } from '../../src/cli/history-command.js';

const ADDED = 1_795_000_000_000;
const SEEN = 1_795_776_494_638;

describe('devices: the human lines', () => {
  it('marks this device, aligns the names, and says when each was added and last seen', () => {
    const lines = deviceLines([
      { device: 1, name: 'primary', addedAt: ADDED, lastSeenAt: SEEN, current: true },
      { device: 2, name: 'laptop', addedAt: ADDED, lastSeenAt: SEEN, current: false },
      { device: 12, name: 'tablet', addedAt: ADDED, lastSeenAt: null, current: false },
    ]);
    expect(lines).toEqual([
      `*  1  primary  added ${localTime(ADDED)}  last seen now`,
      `   2  laptop   added ${localTime(ADDED)}  last seen ${localTime(SEEN)}`,
      `  12  tablet   added ${localTime(ADDED)}  never seen`,
    ]);
  });

  it('escapes a name that would drive the terminal or fake another line', () => {
    const [line] = deviceLines([{ device: 2, name: 'evil\n\u001b[31mred\u202e', addedAt: ADDED, lastSeenAt: null, current: false }]);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/u);
    expect(line).toContain('evil\\n');
  });

  it('a user without a signed list: device 1 with no date', () => {
    expect(deviceLines([{ device: 1, name: 'primary', addedAt: null, lastSeenAt: null, current: true }])).toEqual(['* 1  primary  added (no signed list)  last seen now']);
  });
});
