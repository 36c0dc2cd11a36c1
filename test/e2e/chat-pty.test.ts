/**
 * `e2ee-chat chat` in a real pseudo-terminal (util-linux `script` gives it one), as a person uses it: a
 * message arriving while the user types is printed above the input line and the partial input is redrawn
 * after it; what was typed is sent whole; /quit exits 0 and leaves the terminal's modes as it found them
 * (issue 11, item 1: "tests it must have").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, DEFAULT_WAIT_MS, Processes, assertBuilt, cleanEnv, freePort, visible } from './processes.js';

const procs = new Processes();
const ptys = new Set<ChildProcess>();

beforeAll(() => assertBuilt());
afterEach(async () => {
  for (const p of ptys) p.kill('SIGKILL');
  ptys.clear();
  await procs.cleanup();
});
afterAll(() => procs.removeDirs());

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A shell command in a pseudo-terminal; stdin (a pipe) is what the user types, stdout the terminal's output. */
function inPty(command: string, env: Record<string, string>, cwd: string) {
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  ptys.add(child);
  let out = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    get output() {
      return out;
    },
    type: (keys: string) => child.stdin!.write(keys),
    exited,
    waitFor(pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${String(pattern)}\n--- terminal ---\n${visible(out)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

describe('e2ee-chat chat in a pseudo-terminal', () => {
  it('a message arriving while the user types prints above the input line, the partial input is redrawn, and /quit restores the terminal', async () => {
    const dir = procs.tempDir('pty');
    const port = await freePort();
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const env = { E2EE_CHAT_HOME: join(dir, 'home'), E2EE_CHAT_SERVER: `http://127.0.0.1:${port}` };
    const server = procs.spawn('server', ['server'], { cwd, env: { PORT: String(port), HOST: '127.0.0.1', E2EE_CHAT_DATA: join(dir, 'data') } });
    await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
    await procs.createUser('alice', { cwd, env });
    await procs.createUser('bob', { cwd, env });
    const bob = procs.spawn('receive bob', ['receive', '--user', 'bob'], { cwd, env });
    await bob.waitFor('stderr', /^Listening as /m);

    // The terminal's modes before and after chat, printed by stty in the same pseudo-terminal.
    const chat = `${quote(process.execPath)} ${quote(CLI)} chat --user alice --to bob`;
    const alice = inPty(`stty -g; echo MODES-BEFORE; ${chat}; echo "EXIT=$?"; stty -g; echo MODES-AFTER`, env, cwd);
    await alice.waitFor(/Talking to bob\./);
    await alice.waitFor(/> /);

    alice.type('hel');
    await alice.waitFor(/> (\u001b\[\d+G)?hel/);
    const sent = await procs.run('send bob', ['send', '--user', 'bob', '--to', 'alice', 'while you type'], { cwd, env });
    expect(sent.code).toBe(0);
    // Cleared row, the message, then readline's redraw of the prompt and the partial input (a column
    // move may sit between them).
    await alice.waitFor(/\u001b\[2K\u001b\[1G\[\d{2}:\d{2}\] <bob> while you type\r?\n\u001b\[1G\u001b\[0J> (\u001b\[\d+G)?hel/);

    alice.type('l');
    alice.type('o');
    alice.type('\r');
    await bob.waitFor('stdout', /^\[alice\] hello$/m);
    await alice.waitFor(/\[\d{2}:\d{2}\] <alice> hello/);

    alice.type('/quit\r');
    await alice.waitFor(/MODES-AFTER/);
    expect(await alice.exited).toBe(0);
    const modes = alice.output.match(/^(\S+)\r?\nMODES-BEFORE[\s\S]*EXIT=(\d+)\r?\n(\S+)\r?\nMODES-AFTER/m);
    expect(modes, visible(alice.output)).not.toBeNull();
    expect(modes![2]).toBe('0');
    expect(modes![3]).toBe(modes![1]);
  });
  it.each([
    ['Ctrl-C', '\u0003'],
    ['Ctrl-D', '\u0004'],
  ])('%s leaves with status 0 and the terminal modes as they were', async (_name, key) => {
    const dir = procs.tempDir('pty-keys');
    const port = await freePort();
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const env = { E2EE_CHAT_HOME: join(dir, 'home'), E2EE_CHAT_SERVER: `http://127.0.0.1:${port}` };
    const server = procs.spawn('server', ['server'], { cwd, env: { PORT: String(port), HOST: '127.0.0.1', E2EE_CHAT_DATA: join(dir, 'data') } });
    await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
    await procs.createUser('alice', { cwd, env });
    const chat = `${quote(process.execPath)} ${quote(CLI)} chat --user alice --to bob`;
    const alice = inPty(`stty -g; echo MODES-BEFORE; ${chat}; echo "EXIT=$?"; stty -g; echo MODES-AFTER`, env, cwd);
    await alice.waitFor(/Talking to bob\./);
    await alice.waitFor(/> /);
    alice.type(key);
    await alice.waitFor(/MODES-AFTER/);
    expect(await alice.exited).toBe(0);
    const modes = alice.output.match(/^(\S+)\r?\nMODES-BEFORE[\s\S]*EXIT=(\d+)\r?\n(\S+)\r?\nMODES-AFTER/m);
    expect(modes, visible(alice.output)).not.toBeNull();
    expect(modes![2]).toBe('0');
    expect(modes![3]).toBe(modes![1]);
  });
});
