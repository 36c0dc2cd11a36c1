/**
 * The receiving side's wiring: each `message` and `receipt` frame from the server (already parsed by its
 * schema in ServerConnection) goes through Inbound one at a time, in the order the server routed them, so
 * messages are recorded and shown in that order; acknowledgements go back in batches (AckBatcher).
 * The end of the backlog (`backlog.end`) goes through the same chain, so it is told only after every
 * message pushed before it has been settled and announced.
 */
import { AckBatcher } from './ack-batcher.js';
import type { GroupLogEntry, GroupWelcomeDelivery } from './groups/group-delivery.js';
import { toLogEntry, toWelcome } from './groups/wire-group-delivery.js';
import { Inbound, type InboundDeps } from './inbound.js';
import type { ServerConnection } from './server-connection.js';

/** The server says the backlog of a login has been pushed (and all of it is settled here by now). */
export interface CaughtUp {
  /** How many envelopes the server says it pushed on that connection before the marker. */
  count: number;
}

/** Where a group's pushes go (groups/lazy-group-manager.ts, then group-manager.ts); absent: this client keeps no groups, and leaves them queued. */
export interface GroupPushes {
  receive(entry: GroupLogEntry): Promise<void>;
  welcome(welcome: GroupWelcomeDelivery): Promise<void>;
}

export interface ReceiveLoopDeps extends Omit<InboundDeps, 'acks'> {
  onCaughtUp(c: CaughtUp): void;
  groups?: GroupPushes;
}

export class ReceiveLoop {
  private readonly acks: AckBatcher;
  private readonly inbound: Inbound;
  /** Inbound work, one piece at a time; a failure is reported and never breaks the chain. */
  private chain: Promise<void> = Promise.resolve();
  private readonly onDebug: InboundDeps['onDebug'];

  constructor(
    private readonly connection: Pick<ServerConnection, 'call' | 'onEvent' | 'onBacklogEnd' | 'authenticated'>,
    deps: ReceiveLoopDeps,
    ackDelayMs: number,
  ) {
    this.onDebug = deps.onDebug;
    this.acks = new AckBatcher(async (batch) => void (await connection.call('ack', batch)), ackDelayMs);
    const inbound = (this.inbound = new Inbound({ ...deps, acks: this.acks }));
    connection.onEvent('message', (m) => this.inOrder(`message ${m.id}`, () => inbound.message(m)));
    connection.onEvent('receipt', (r) => this.inOrder(`receipt ${r.id}`, () => inbound.receipt(r)));
    // Asked for in the handshake (ServerConnection); each entry is handled as its own `receipt` would be.
    connection.onEvent('receipts', (b) => {
      for (const r of b.receipts) this.inOrder(`receipt ${r.id}`, () => inbound.receipt(r));
    });
    const groups = deps.groups;
    if (groups) {
      // In the same chain as messages, so `caughtUp` comes after them too. Acknowledged once handled: a
      // push whose handling failed (a sync that could not reach the server) comes again at the next login.
      connection.onEvent('group.message', (m) =>
        this.inOrder(`group message ${m.id}`, async () => {
          await groups.receive(toLogEntry(m));
          this.acks.add('ids', m.id);
        }),
      );
      connection.onEvent('group.welcome', (w) =>
        this.inOrder(`group welcome ${w.id}`, async () => {
          await groups.welcome(toWelcome(w));
          this.acks.add('ids', w.id);
        }),
      );
    }
    connection.onBacklogEnd((b) => this.inOrder('backlog.end', async () => deps.onCaughtUp({ count: b.count })));
  }

  /** Runs inbound work after everything received before it; a failure is reported and never stops the chain. */
  private inOrder(what: string, work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((cause: unknown) => this.onDebug(`handling ${what} failed`, cause));
  }

  /**
   * Opens the envelopes held from `peer` (see Inbound.openHeld), in the chain so it never interleaves
   * with live deliveries. Resolves with how many opened; rejects if the pass failed.
   */
  openHeld(peer: string): Promise<number> {
    const run = this.chain.then(() => this.inbound.openHeld(peer));
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The connection dropped: acks not yet sent are forgotten (the server delivers those envelopes again). */
  connectionLost(): void {
    this.acks.discard();
  }

  /** Waits for everything received so far to be handled, then sends the pending acks if still logged in. */
  async finish(): Promise<void> {
    await this.chain;
    if (this.connection.authenticated) await this.acks.flush();
  }
}
