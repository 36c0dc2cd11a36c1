/**
 * The devices page's state (issue 10 item 3, as the CLI's `e2ee-chat devices` does it, src/cli/devices-command.ts):
 * the account's devices as this device verified its signed list, approving a new device with the code it
 * shows (with the recent history, if asked) and removing one. Approving and removing change the signed
 * list, which only device 1 can sign: on a linked device the page lists only, and says why.
 *
 * One action at a time: an approval and a removal both publish a new list version, and two at once would
 * race for it; the page says what is under way instead.
 */
import { type OfferedDevice, type OwnDevice } from '../../src/client/index.js';
import { MAX_HISTORY_ON_LINK } from '../../src/protocol/limits.js';
import type { OpenAccount } from './account.js';
import { describeError } from './describe-error.js';
import { ViewModel } from './view-model.js';

/** The id of the account's first device, the only one holding the account key (src/client/address.ts). */
const FIRST_DEVICE = 1;

export type ApprovalState =
  | { phase: 'idle' }
  /** Connecting to the new device with the code, before it offered anything. */
  | { phase: 'checking' }
  /** The new device's offer, shown for the user to compare while the list is published. */
  | { phase: 'offered'; offer: OfferedDevice }
  /** Added; the history (if any) is being sent. */
  | { phase: 'sending-history'; offer: OfferedDevice; device: number; records: number };

export interface DevicesView {
  /** This device is device 1: it can approve and remove devices. */
  primary: boolean;
  /** Undefined until first read (or when the read failed: `problem` says why). */
  devices: readonly OwnDevice[] | undefined;
  approval: ApprovalState;
  /** A device the user asked to remove, waiting for the confirmation. */
  confirmRemove: OwnDevice | undefined;
  /** A removal under way. */
  removing: number | undefined;
  /** What the last action did, for a status line. */
  result: string | undefined;
  /** What went wrong with the last action, for an alert. */
  problem: string | undefined;
}

/** Why `text` is not a number of history messages to send, or undefined when it is one. */
export function historyProblem(text: string): string | undefined {
  if (/^\d+$/.test(text.trim()) && Number(text) <= MAX_HISTORY_ON_LINK) return undefined;
  return `The history to send is a whole number of messages from 0 to ${MAX_HISTORY_ON_LINK.toLocaleString('en-US')}.`;
}

export class DevicesModel extends ViewModel<DevicesView> {

  constructor(private readonly account: OpenAccount) {
    super({
      primary: (account.identity.device ?? FIRST_DEVICE) === FIRST_DEVICE,
      devices: undefined, approval: { phase: 'idle' },
      confirmRemove: undefined,
      removing: undefined,
      result: undefined,
      problem: undefined,
    });
    // A device removed or added by another device of this account shows at the next read; this device's
    // own removal stops its client, and the chat screen says so.
  }

  private get busy(): boolean {
    return this.snapshot.approval.phase !== 'idle' || this.snapshot.removing !== undefined;
  }

  /** Reads the list again from the server (verified under the account key by the client). */
  async refresh(): Promise<void> {
    try {
      this.set({ devices: await this.account.client.devices() });
    } catch (err) {
      this.set({ problem: `Could not read your devices: ${describeError(err)}` });
    }
  }

  /**
   * Approves the device that shows `code`, then sends it the last `history` messages (waiting until the
   * outbox has sent them, or says what is left). A wrong, expired or reused code is refused by the client
   * before anything is published. Resolves true when the device was added.
   */
  async approve(code: string, historyText: string): Promise<boolean> {
    if (this.busy) return false;
    if (code.trim() === '') return this.fail('Type the link code the new device shows.');
    const wrongHistory = historyProblem(historyText);
    if (wrongHistory !== undefined) return this.fail(wrongHistory);
    const history = Number(historyText.trim());
    const { client } = this.account;
    this.set({ approval: { phase: 'checking' }, result: undefined, problem: undefined });
    let offer: OfferedDevice | undefined;
    try {
      const linked = await client.approveDevice(code.trim(), {
        history,
        onOffer: (offered) => {
          offer = offered;
          this.set({ approval: { phase: 'offered', offer: offered } });
        },
      });
      const added = `Added "${linked.name}" (key ${linked.keyFingerprint}) as device ${linked.device}; device list version ${linked.version}.`;
      const notes: string[] = [];
      if (linked.historyError !== undefined) notes.push(`Not all of the history could be prepared (${describeError(linked.historyError)}); the device is linked.`);
      if (linked.historySent > 0) {
        this.set({ approval: { phase: 'sending-history', offer: offer ?? linked, device: linked.device, records: linked.historySent }, result: added });
        notes.push(await this.sendHistory(linked.device, linked.historySent, linked.historyMessages));
      } else if (history > 0) notes.push('There were no messages to send as history.');
      this.set({ approval: { phase: 'idle' }, result: [added, ...notes].join(' ') });
      await this.refresh();
      return true;
    } catch (err) {
      this.set({ approval: { phase: 'idle' } });
      await this.refresh();
      // The library's words say whether anything changed (a wrong or reused code: nothing did).
      return this.fail(`Not approved: ${describeError(err)}`);
    }
  }

  /** Sends what approve queued (as `devices approve --history` does) and words the outcome. */
  private async sendHistory(device: number, records: number, ids: readonly string[]): Promise<string> {
    await this.account.client.sendOutbox();
    const waiting = new Set((await this.account.stores.messages.outboxEntries()).map((e) => e.id));
    const left = ids.filter((id) => waiting.has(id)).length;
    if (left === 0) return `Sent ${records} ${records === 1 ? 'message' : 'messages'} of history to device ${device}.`;
    return `${left} of ${ids.length} history messages for device ${device} did not go out yet: they wait in the outbox and go when this page reconnects.`;
  }

  /** Asks for the confirmation of removing `device` (never device 1, which holds the account key). */
  askRemove(device: OwnDevice): void {
    if (this.busy || !this.snapshot.primary || device.device === FIRST_DEVICE) return;
    this.set({ confirmRemove: device, result: undefined, problem: undefined });
  }

  cancelRemove(): void {
    this.set({ confirmRemove: undefined });
  }

  /** Removes the device asked for: it gets nothing new, the server refuses its logins, peers stop writing to it. */
  async confirmRemoval(): Promise<void> {
    const device = this.snapshot.confirmRemove;
    if (!device || this.busy) return;
    this.set({ confirmRemove: undefined, removing: device.device });
    try {
      const removed = await this.account.client.removeDevice(device.device);
      this.set({ result: `Removed device ${removed.device} ("${removed.name}"); device list version ${removed.version}.` });
    } catch (err) {
      this.set({ problem: `Device ${device.device} was not removed: ${describeError(err)}` });
    }
    this.set({ removing: undefined });
    await this.refresh();
  }

  private fail(problem: string): false {
    this.set({ problem, result: undefined });
    return false;
  }
}
