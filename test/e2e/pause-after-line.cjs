/**
 * Test-only preload (`node --require`): after the process writes output matching the regular expression
 * in E2EE_TEST_PAUSE_AFTER, block its main thread for E2EE_TEST_PAUSE_MS (default 500 ms).
 *
 * This makes a scheduling accident deterministic: the OS may deschedule a process right after it printed
 * a readiness line ("listening", "Listening as ...") and before it ran the next statements. Anything a
 * supervisor may rely on once that line is out (signal handlers, for a graceful stop) must already be in
 * place when the line is written.
 *
 * Covers both ways the CLI writes: process.stdout/stderr.write, and pino's sonic-boom (fs.write on fd 1).
 */
'use strict';
const fs = require('node:fs');

const pattern = new RegExp(process.env.E2EE_TEST_PAUSE_AFTER || '(?!)');
const pauseMs = Number(process.env.E2EE_TEST_PAUSE_MS || 500);
let paused = false;

function pauseIfMatch(chunk) {
  if (paused) return;
  const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '';
  if (!pattern.test(text)) return;
  paused = true;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
}

const originalWrite = fs.write;
fs.write = function patchedWrite(fd, buffer, ...rest) {
  if ((fd === 1 || fd === 2) && !paused && pattern.test(String(buffer))) {
    // Write it now, synchronously, so the reader sees it before the pause; then report success.
    const written = fs.writeSync(fd, buffer);
    pauseIfMatch(buffer);
    const callback = rest[rest.length - 1];
    if (typeof callback === 'function') process.nextTick(callback, null, written, buffer);
    return;
  }
  return originalWrite.call(this, fd, buffer, ...rest);
};

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write;
  stream.write = function patchedStreamWrite(chunk, ...rest) {
    const result = write.call(this, chunk, ...rest);
    pauseIfMatch(chunk);
    return result;
  };
}
