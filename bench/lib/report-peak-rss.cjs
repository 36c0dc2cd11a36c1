/**
 * Benchmark-only preload (`node --require`): when the process exits, it writes its peak resident memory
 * (getrusage ru_maxrss, kilobytes on Linux) to stderr as `peak-rss-kib <n>`, so a benchmark can read the
 * peak of a process that is gone by the time it could look at /proc.
 */
'use strict';
const fs = require('node:fs');

process.on('exit', () => {
  try {
    fs.writeSync(2, `\npeak-rss-kib ${process.resourceUsage().maxRSS}\n`);
  } catch {
    // stderr closed: nothing to report to
  }
});
