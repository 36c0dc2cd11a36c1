/**
 * `e2ee-chat chat` in a real pseudo-terminal (util-linux `script` gives it one), as a person uses it: a
 * message arriving while the user types is printed above the input line and the partial input is redrawn
 * after it; what was typed is sent whole; /quit exits 0 and leaves the terminal's modes as it found them
 * (issue 11, item 1: "tests it must have").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, DEFAULT_WAIT_MS, Processes, assertBuilt, cleanEnv, visible } from './processes.js';
import { World, type Env } from './world.js';

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
function inPty(command: string, env: Env, cwd: string) {
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

/** A world with its server running and `users` created. */
async function worldWith(name: string, users: readonly string[]): Promise<World> {
  const w = await World.create(procs, name);
  await w.startServer();
  for (const user of users) await w.createUser(user);
  return w;
}

/** `chat --user alice --to bob` in a pseudo-terminal, between two prints of the terminal's modes (stty -g); waits for its prompt. */
async function aliceChatsInPty(w: World): Promise<ReturnType<typeof inPty>> {
  const chat = `${quote(process.execPath)} ${quote(CLI)} chat --user alice --to bob`;
  const alice = inPty(`stty -g; echo MODES-BEFORE; ${chat}; echo "EXIT=$?"; stty -g; echo MODES-AFTER`, w.env(), w.cwd);
  await alice.waitFor(/Talking to bob\./);
  await alice.waitFor(/> /);
  return alice;
}

/** Chat exited with status 0, and the terminal's modes after it are the ones before it. */
async function expectExitedRestored(alice: ReturnType<typeof inPty>): Promise<void> {
  await alice.waitFor(/MODES-AFTER/);
  expect(await alice.exited).toBe(0);
  const modes = alice.output.match(/^(\S+)\r?\nMODES-BEFORE[\s\S]*EXIT=(\d+)\r?\n(\S+)\r?\nMODES-AFTER/m);
  expect(modes, visible(alice.output)).not.toBeNull();
  expect(modes![2]).toBe('0');
  expect(modes![3]).toBe(modes![1]);
}

describe('e2ee-chat chat in a pseudo-terminal', () => {
  it('a message arriving while the user types prints above the input line, the partial input is redrawn, and /quit restores the terminal', async () => {
    const w = await worldWith('pty', ['alice', 'bob']);
    const bob = await w.startReceiver('bob');

    // The terminal's modes before and after chat, printed by stty in the same pseudo-terminal.
    const alice = await aliceChatsInPty(w);

    alice.type('hel');
    await alice.waitFor(/> (\u001b\[\d+G)?hel/);
    const sent = await w.send('bob', 'alice', 'while you type');
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
    await expectExitedRestored(alice);
  });
  it('Alt-Enter starts a new line of the same message; Enter sends the lines as one message, shown on several lines by the peer', async () => {
    const w = await worldWith('pty-newline', ['alice', 'bob']);
    // bob's chat reads a pipe: it prints the same lines it would print above its prompt.
    const bob = procs.spawn('chat bob', ['chat', '--user', 'bob', '--to', 'alice'], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    await bob.waitFor('stdout', /^Talking to alice\./m);
    const alice = await aliceChatsInPty(w);

    alice.type('first line');
    // Alt-Enter: the terminal sends Esc then CR.
    alice.type('\u001b\r');
    // The line moves up as typed; the input line starts empty after the continuation prompt.
    await alice.waitFor(/> first line\r?\n(\u001b\[\d+G)?(\u001b\[0J)?\.\.\. /);
    alice.type('second line\u001b\r');
    await alice.waitFor(/\.\.\. second line\r?\n/);
    alice.type('third\r');
    // One message with real newlines, on several lines, each after the first indented under the text.
    await bob.waitFor('stdout', /^\[\d{2}:\d{2}\] <alice> first line\n {16}second line\n {16}third$/m);
    await alice.waitFor(/\[\d{2}:\d{2}\] <alice> first line\r?\n {16}second line\r?\n {16}third/);
    // Back to the normal prompt: the next Enter sends a message of its own.
    alice.type('single\r');
    await bob.waitFor('stdout', /^\[\d{2}:\d{2}\] <alice> single$/m);
    expect(bob.stdout.match(/<alice> /g)).toHaveLength(2);

    alice.type('/quit\r');
    await expectExitedRestored(alice);
    bob.child.stdin!.write('/quit\n');
    expect((await bob.waitForExit()).code).toBe(0);
  });
  it.each([
    ['Ctrl-C', '\u0003'],
    ['Ctrl-D', '\u0004'],
  ])('%s leaves with status 0 and the terminal modes as they were', async (_name, key) => {
    const w = await worldWith('pty-keys', ['alice']);
    const alice = await aliceChatsInPty(w);
    alice.type(key);
    await expectExitedRestored(alice);
  });
});
