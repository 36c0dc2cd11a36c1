import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A safety net for a test that hangs, not a speed limit: with two files at a time, a test that runs
    // a dozen real processes can take twice as long as alone.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time even on two cores (vitest's default there is one): most of the suite waits on
    // real processes, sockets and fsyncs, not on the CPU. Measured here: test/e2e and test/e2ee took 319 s
    // this way against about 530 s one file at a time, with no test slower than its bounds.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
