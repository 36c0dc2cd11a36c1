import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../src/client/reconnect-backoff.js';

const settings = { initialDelayMs: 250, maxDelayMs: 10_000, jitter: 0.5 };

describe('reconnect backoff', () => {
  it('doubles from the initial delay up to the maximum when the draw is in the middle', () => {
    const middle = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 6, 40, 1000].map((n) => reconnectDelayMs(n, settings, middle))).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('spreads each delay by the jitter either side, so clients sent away together come back apart', () => {
    expect(reconnectDelayMs(0, settings, () => 0)).toBe(125);
    expect(reconnectDelayMs(0, settings, () => 0.999_999)).toBe(375);
    expect(reconnectDelayMs(10, settings, () => 0)).toBe(5000);
    // A thousand clients over the first window: they land all over it, not on one instant.
    const delays = new Set(Array.from({ length: 1000 }, () => reconnectDelayMs(0, settings)));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(125);
    expect(Math.max(...delays)).toBeLessThanOrEqual(375);
    expect(delays.size).toBeGreaterThan(100);
  });

  it('never waits less than nothing, whatever the settings', () => {
    expect(reconnectDelayMs(0, { initialDelayMs: 0, maxDelayMs: 0, jitter: 1 }, () => 0)).toBe(0);
  });
});
