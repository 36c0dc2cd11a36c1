/**
 * Real `e2ee-chat` processes for the end-to-end tests: spawn `node dist/cli/main.js ...`, collect stdout
 * and stderr, wait for a line matching a pattern (failing early, with the output so far, when the process
 * exits first), and kill whatever is still running on cleanup so a failing test leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI under test: the build in this repository, or another build named by E2E_CLI. */
export const CLI = process.env.E2E_CLI ? resolve(process.env.E2E_CLI) : join(REPO_ROOT, 'dist/cli/main.js');

export const DEFAULT_WAIT_MS = 15_000;

/** Fails with a clear message when the CLI has not been built (`npm test` builds first; `npx vitest` does not). */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run "npm run build" before the end-to-end tests`);
}

/** A port that was free a moment ago: listen on port 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      if (address === null || typeof address === 'string') {
        srv.close();
        reject(new Error('no port from the probe server'));
        return;
      }
      srv.close(() => resolvePort(address.port));
    });
  });
}

/** Variables that would leak the developer's own settings into the processes under test. */
const SCRUBBED = /^(E2EE_CHAT_|PORT$|HOST$|LOG_LEVEL$)/;

export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k) && v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env: Record<string, string | undefined>;
  cwd: string;
  /** Written to stdin, which is then closed. Without it stdin is closed at once (EOF, not a TTY). */
  input?: string;
  /** Keep stdin open (for writing later with `proc.child.stdin`). */
  keepStdinOpen?: boolean;
  /** Options for node itself, before the script (e.g. `--require` a test preload). */
  nodeArgs?: readonly string[];
}

export class Proc {
  readonly child: ChildProcess;
  private out = '';
  private err = '';
  private exitInfo: Exit | null = null;
  readonly exited: Promise<Exit>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly label: string,
    args: readonly string[],
    options: SpawnOptions,
  ) {
    this.child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.out += chunk;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.err += chunk;
      this.notify();
    });
    // A process that exits before reading its stdin would make our write fail with EPIPE.
    this.child.stdin!.on('error', () => undefined);
    if (options.input !== undefined) this.child.stdin!.end(options.input);
    else if (!options.keepStdinOpen) this.child.stdin!.end();
    this.exited = new Promise((resolveExit) => {
      // 'close' (not 'exit'): stdout and stderr have been read to the end by then.
      this.child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.notify();
        resolveExit(this.exitInfo);
      });
      this.child.once('error', (error) => {
        this.err += `\n[spawn error] ${error.message}\n`;
        this.exitInfo = { code: null, signal: null };
        this.notify();
        resolveExit(this.exitInfo);
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Everything the process printed so far, for failure messages (control characters made visible). */
  describe(): string {
    const status = this.exitInfo ? `exited (code ${String(this.exitInfo.code)}, signal ${String(this.exitInfo.signal)})` : 'still running';
    return `[${this.label}: ${status}]\n--- stdout ---\n${visible(this.out)}\n--- stderr ---\n${visible(this.err)}`;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves with the first match of `pattern` in the stream; rejects on timeout or if the process exits first. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = DEFAULT_WAIT_MS): Promise<RegExpMatchArray> {
    return new Promise((resolveMatch, reject) => {
      const check = (): boolean => {
        const match = (stream === 'stdout' ? this.out : this.err).match(pattern);
        if (match) {
          done();
          resolveMatch(match);
          return true;
        }
        if (this.exitInfo) {
          done();
          reject(new Error(`${this.label} exited before ${stream} matched ${String(pattern)}\n${this.describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${stream} to match ${String(pattern)}\n${this.describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = () => void check();
      this.listeners.add(listener);
      check();
    });
  }

  /** Waits for the process to end; kills it (SIGKILL) and rejects if it takes longer than `timeoutMs`. */
  async waitForExit(timeoutMs = DEFAULT_WAIT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`${this.label} did not exit within ${timeoutMs} ms\n${this.describe()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = DEFAULT_WAIT_MS): Promise<Exit> {
    this.kill(signal);
    return this.waitForExit(timeoutMs);
  }
}

/** Escapes control characters other than newline and tab, so output cannot drive the terminal showing it. */
export function visible(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  proc: Proc;
}

/**
 * Every process and temporary folder of a test file. `cleanup()` (afterEach) kills the processes still
 * running; `removeDirs()` (afterAll) deletes the folders.
 */
export class Processes {
  private readonly procs = new Set<Proc>();
  private readonly dirs: string[] = [];

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `e2ee-chat-e2e-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  spawn(label: string, args: readonly string[], options: SpawnOptions): Proc {
    const proc = new Proc(label, args, options);
    this.procs.add(proc);
    void proc.exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /** Runs a command to completion (a one-shot like `send` or `keys`). */
  async run(label: string, args: readonly string[], options: SpawnOptions, timeoutMs = DEFAULT_WAIT_MS): Promise<RunResult> {
    const proc = this.spawn(label, args, options);
    const exit = await proc.waitForExit(timeoutMs);
    return { ...exit, stdout: proc.stdout, stderr: proc.stderr, proc };
  }

  /**
   * Creates `user`'s keys and registers the name the one way the CLI allows: a first `receive`, stopped
   * once it listens. Other commands refuse a user with no local keys (no_local_user). Returns that
   * receive's stderr (it says where the keys were created).
   */
  async createUser(user: string, options: SpawnOptions): Promise<string> {
    const receiver = this.spawn(`receive ${user} (create)`, ['receive', '--user', user], options);
    await receiver.waitFor('stderr', new RegExp(`^Listening as ${user} `, 'm'));
    const exit = await receiver.stop('SIGTERM');
    if (exit.code !== 0) throw new Error(`creating ${user} failed:\n${receiver.describe()}`);
    return receiver.stderr;
  }

  /** Kills everything still running and waits for it to be gone. */
  async cleanup(): Promise<void> {
    const running = [...this.procs];
    for (const proc of running) proc.kill('SIGKILL');
    await Promise.all(running.map((proc) => proc.exited));
    this.procs.clear();
  }

  removeDirs(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
