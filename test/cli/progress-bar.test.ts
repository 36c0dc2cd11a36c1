/** The progress bar of a file transfer (src/cli/progress-bar.ts), drawn with an injected clock. */
import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/progress-bar.js';

describe('progress bar', () => {
  it('draws the share, the bytes and the rate, at most every 100 ms, always at the end, and clears itself', () => {
    let t = 0;
    const drawn: Array<string | undefined> = [];
    const bar = new ProgressBar('sending a.bin', 100 * 1024 * 1024, (line) => drawn.push(line), () => t);
    t = 1000;
    bar.update(50 * 1024 * 1024);
    t = 1050;
    bar.update(60 * 1024 * 1024); // too soon: not drawn
    t = 2000;
    bar.update(100 * 1024 * 1024);
    bar.finish();
    expect(drawn).toEqual([
      'sending a.bin  [##########----------]  50%  50 MiB/100 MiB  50 MiB/s',
      'sending a.bin  [####################]  100%  100 MiB/100 MiB  50 MiB/s',
      undefined,
    ]);
  });

  it('an empty file is complete at once', () => {
    const drawn: Array<string | undefined> = [];
    new ProgressBar('x', 0, (line) => drawn.push(line), () => 0).update(0);
    expect(drawn).toEqual(['x  [####################]  100%  0 B/0 B']);
  });
});
