/**
 * One end-to-end test's world: its own key home, server data folder, working directory and port, and
 * the commands every e2e file runs in it (start a server process, run a CLI command, start a receiver,
 * create a user). Built on test/e2e/processes.ts, which owns the processes and folders and cleans up.
 *
 * The variations between test files are options, not copies: a world may talk to another server's URL
 * (a hostile server in front of a real one), a server may use another data folder (a server replaced by
 * one with an empty directory), and every command takes extra environment variables.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Processes, assertBuilt, freePort, type Proc, type RunResult } from './processes.js';

export type Env = Record<string, string | undefined>;

/**
 * The Processes of one test file, with the hooks every e2e file needs: fail early without a build, kill
 * what a test left running, delete the temporary folders at the end. Call at the top of the file.
 */
export function useProcesses(): Processes {
  const procs = new Processes();
  beforeAll(() => assertBuilt());
  afterEach(() => procs.cleanup());
  afterAll(() => procs.removeDirs());
  return procs;
}

export interface WorldOptions {
  /** The server the client commands talk to; by default this world's own server process (startServer). */
  serverUrl?: string;
}

export interface ServerOptions {
  /** The data folder, relative to the world's folder (or absolute); default `data`. */
  data?: string;
  /** Names the process in failure messages; default `server` (with the data folder when one is given). */
  label?: string;
  /** Extra environment variables (limits, log level). */
  env?: Env;
}

export interface CommandOptions {
  /** Extra environment variables; `undefined` removes one. */
  env?: Env;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Names the process in failure messages; default the command line. */
  label?: string;
  /** Options for node itself (e.g. `--require` a test preload). */
  nodeArgs?: readonly string[];
  /** How long a command run to completion may take before it is killed; default DEFAULT_WAIT_MS. */
  timeoutMs?: number;
}

/** What a server process prints once it listens; the port it listens on is the first group. */
export const SERVER_LISTENING = /e2ee-chat server listening on port (\d+)/;

/** Failure messages name a command by its line, cut short so a 100,000-character argument does not flood them. */
const LABEL_CHARS = 60;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class World {
  /** The client commands' key home (E2EE_CHAT_HOME). */
  readonly home: string;
  /** The server's default data folder (E2EE_CHAT_DATA). */
  readonly data: string;
  /** Working directory of every process: empty, so no stray `.env` is loaded (a test may write one). */
  readonly cwd: string;

  private constructor(
    readonly procs: Processes,
    /** This world's temporary folder; home, data and cwd are inside it. */
    readonly dir: string,
    /** The port this world's server process listens on. */
    readonly port: number,
    /** The server the client commands talk to (E2EE_CHAT_SERVER). */
    readonly url: string,
  ) {
    this.home = join(dir, 'home');
    this.data = join(dir, 'data');
    this.cwd = join(dir, 'cwd');
    mkdirSync(this.cwd);
  }

  static async create(procs: Processes, name: string, options: WorldOptions = {}): Promise<World> {
    const dir = procs.tempDir(name);
    const port = await freePort();
    return new World(procs, dir, port, options.serverUrl ?? `http://127.0.0.1:${port}`);
  }

  /** The environment of a client command: this world's home and server, then `extra`. */
  env(extra: Env = {}): Env {
    return { E2EE_CHAT_HOME: this.home, E2EE_CHAT_SERVER: this.url, ...extra };
  }

  /**
   * Starts `e2ee-chat server` on this world's port and waits until it answers /health (one round trip:
   * its event loop has turned since it printed the listening line).
   */
  async startServer(options: ServerOptions = {}): Promise<Proc> {
    const data = resolve(this.dir, options.data ?? 'data');
    const label = options.label ?? (options.data === undefined ? 'server' : `server ${options.data}`);
    const server = this.procs.spawn(label, ['server'], {
      cwd: this.cwd,
      env: { PORT: String(this.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: data, ...options.env },
    });
    const [, port] = await server.waitFor('stdout', SERVER_LISTENING);
    expect(Number(port)).toBe(this.port);
    expect((await fetch(`http://127.0.0.1:${this.port}/health`)).status).toBe(200);
    return server;
  }

  /** Runs a client command to completion. */
  cli(args: readonly string[], options: CommandOptions = {}): Promise<RunResult> {
    return this.procs.run(options.label ?? args.join(' ').slice(0, LABEL_CHARS), args, this.spawnOptions(options), options.timeoutMs);
  }

  /** `send --user from --to to [message] [...args]`, run to completion (no message: it reads stdin). */
  send(from: string, to: string, message: string | undefined, options: CommandOptions & { args?: readonly string[] } = {}): Promise<RunResult> {
    const args = ['send', '--user', from, '--to', to, ...(message === undefined ? [] : [message]), ...(options.args ?? [])];
    return this.cli(args, { label: `send ${from}->${to}`, ...options });
  }

  /** Spawns `receive --user user [...args]` without waiting for anything. */
  spawnReceiver(user: string, options: CommandOptions & { args?: readonly string[] } = {}): Proc {
    const args = ['receive', '--user', user, ...(options.args ?? [])];
    return this.procs.spawn(options.label ?? `receive ${user}`, args, this.spawnOptions(options));
  }

  /** Spawns `receive --user user` and waits until it says it listens as `user` on this world's server. */
  async startReceiver(user: string, options: CommandOptions & { args?: readonly string[] } = {}): Promise<Proc> {
    const receiver = this.spawnReceiver(user, options);
    await receiver.waitFor('stderr', new RegExp(`^Listening as ${escapeRegExp(user)} on ${escapeRegExp(this.url)}\\.`, 'm'));
    return receiver;
  }

  /** Creates and registers `user` with a first `receive` (Processes.createUser); returns that receive's stderr. */
  createUser(user: string, options: { env?: Env } = {}): Promise<string> {
    return this.procs.createUser(user, { cwd: this.cwd, env: this.env(options.env) });
  }

  private spawnOptions(options: CommandOptions): { cwd: string; env: Env; input?: string; nodeArgs?: readonly string[] } {
    return {
      cwd: this.cwd,
      env: this.env(options.env),
      ...(options.input !== undefined && { input: options.input }),
      ...(options.nodeArgs !== undefined && { nodeArgs: options.nodeArgs }),
    };
  }
}
