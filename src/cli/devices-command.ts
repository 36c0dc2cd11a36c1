/**
 * `e2ee-chat devices`: the user's devices, one line each (id, name, when added, when last seen), this
 * one marked with `*`. Alone it lists; `devices approve <code>` links a new device (the other half of
 * `e2ee-chat link`) and `devices remove <id>` removes one, both on the primary only.
 * The devices and their names are the signed list, verified by the client; "last seen" is the server's
 * word, which the client cannot check.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { OwnDevice } from '../client/own-devices.js';
import { ChatError } from '../protocol/errors.js';
import { MAX_HISTORY_ON_LINK } from '../protocol/limits.js';
import { addUserOptions, connectClient, type OpenedClient, type UserOptions } from './common.js';
import { localTime } from './history-command.js';
import { JSON_HELP, jsonOutput, writeJson, type DeviceLine } from './output.js';
import { printable } from './terminal-text.js';

function toLine(d: OwnDevice): DeviceLine {
  return { type: 'device', device: d.device, name: d.name, addedAt: d.addedAt, lastSeenAt: d.lastSeenAt, current: d.current };
}

/** When the device was last seen, in words: this one is connected now, whatever the server recorded. */
function lastSeenText(d: OwnDevice): string {
  if (d.current) return 'last seen now';
  return d.lastSeenAt === null ? 'never seen' : `last seen ${localTime(d.lastSeenAt)}`;
}

/** The human lines: names are the user's own text but public and any Unicode, so escaped, then aligned. */
export function deviceLines(devices: readonly OwnDevice[]): string[] {
  const names = devices.map((d) => printable(d.name));
  const idWidth = Math.max(...devices.map((d) => String(d.device).length));
  const nameWidth = Math.max(...names.map((n) => n.length));
  return devices.map((d, i) => {
    const added = d.addedAt === null ? 'added (no signed list)' : `added ${localTime(d.addedAt)}`;
    return `${d.current ? '*' : ' '} ${String(d.device).padStart(idWidth)}  ${names[i]!.padEnd(nameWidth)}  ${added}  ${lastSeenText(d)}`;
  });
}

export function registerDevicesCommand(program: Command): void {
  // Options before `approve` / `remove` are the listing's; theirs come after their name (both take --user;
  // the program enables positional options too, which this needs).
  const command = program.command('devices').enablePositionalOptions();
  addUserOptions(
    command
      .description('list your devices: id, name, when added, when last seen; * marks this one')
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nOne line per device, from your signed device list as this device verified it. "Last seen" (when\n' +
          'the server last saw the device log in or acknowledge) is the server\'s word, not signed by anyone.\n' +
          'Times are local.\n' +
          '\nWith --json, one object per device:\n' +
          '  {"type":"device","device","name","addedAt","lastSeenAt","current"}\n' +
          'addedAt, lastSeenAt: ms since the epoch (addedAt null without a signed list, lastSeenAt null for a\n' +
          'device the server has not seen); current: this device. name is raw, escaped by JSON only.',
      ),
  ).action(async (opts: UserOptions) => {
    const opened = await connectClient(opts);
    try {
      const devices = await opened.client.devices();
      if (jsonOutput()) for (const d of devices) writeJson(toLine(d));
      else process.stdout.write(deviceLines(devices).join('\n') + '\n');
    } finally {
      await opened.close();
    }
  });
  registerApprove(command);
  registerRemove(command);
}

/** Says where things stand on stdout (human mode) or stderr (with --json, stdout is NDJSON only). */
const say = (text: string) => (jsonOutput() ? process.stderr : process.stdout).write(text);

interface ApproveOptions extends UserOptions {
  history?: number;
}

/** Commander parser for --history: a whole number of messages, 0 to MAX_HISTORY_ON_LINK. */
function parseHistory(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_HISTORY_ON_LINK) throw new InvalidArgumentError(`expected a whole number of messages from 0 to ${MAX_HISTORY_ON_LINK.toLocaleString('en-US')}`);
  return n;
}

function registerApprove(devices: Command): void {
  addUserOptions(
    devices
      .command('approve <code>')
      .description('link a new device to your account with the code it printed (on your first device only)')
      .option('--history <n>', `also send the new device your last n messages, of all conversations (0 to ${MAX_HISTORY_ON_LINK.toLocaleString('en-US')}; default 0)`, parseHistory)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nRun `e2ee-chat link --user NAME` on the new machine first: it prints the code. Check that the key\n' +
          'fingerprint shown here is the one the new device shows. A wrong, expired or reused code is refused\n' +
          'and changes nothing; each code is tried once.\n' +
          '\nWith --history N, once the device is linked your last N messages go to it, end-to-end encrypted for\n' +
          'that device alone, and it shows them as history. This command waits until the server has them;\n' +
          'what could not go out stays in your outbox (e2ee-chat outbox). Files go as their caption only.\n' +
          '\nWith --json: {"type":"linked","username","device","name","keyFingerprint","version","history"};\n' +
          'history: how many messages were queued for the new device.',
      ),
  ).action(async (code: string, opts: ApproveOptions) => {
    const opened = await connectClient(opts);
    try {
      const approved = await opened.client.approveDevice(code, {
        history: opts.history ?? 0,
        onOffer: (offer) => say(`new device "${printable(offer.name)}", key ${offer.keyFingerprint}\n`),
      });
      const { device, name, keyFingerprint, version, historySent } = approved;
      if (jsonOutput()) writeJson({ type: 'linked', username: opts.user, device, name, keyFingerprint, version, history: historySent });
      say(`added as ${printable(opts.user)}'s device ${device}; device list version ${version}\n`);
      if (approved.historyError !== undefined) {
        const why = approved.historyError instanceof Error ? approved.historyError.message : String(approved.historyError);
        process.stderr.write(`could not prepare all of the history for device ${device} (${printable(why)}); the device is linked\n`);
      }
      if (historySent > 0) await sendHistory(opened, device, historySent, approved.historyMessages);
      else if ((opts.history ?? 0) > 0) say('no messages to send as history\n');
    } finally {
      await opened.close();
    }
  });
}

/** Waits while the outbox sends the history messages, then says whether all went. */
async function sendHistory(opened: OpenedClient, device: number, records: number, ids: readonly string[]): Promise<void> {
  say(`sending the last ${records} messages to device ${device}…\n`);
  await opened.client.sendOutbox();
  const waiting = new Set((await opened.messages.outboxEntries()).map((e) => e.id));
  const left = ids.filter((id) => waiting.has(id)).length;
  if (left === 0) say(`sent ${records} messages of history to device ${device}\n`);
  else process.stderr.write(`${left} of ${ids.length} history messages for device ${device} did not go out; they are in your outbox (e2ee-chat outbox)\n`);
}

function registerRemove(devices: Command): void {
  addUserOptions(
    devices
      .command('remove <id>')
      .description('remove one of your devices: it gets nothing new, and peers stop writing to it (on your first device only)')
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\n<id> is the number `e2ee-chat devices` shows. Device 1 (the first device, which holds the account key)\n' +
          'cannot be removed. The server deletes what waits for the device and refuses its logins at once.\n' +
          '\nWith --json: {"type":"removed-device","username","device","name","version"}.',
      ),
  ).action(async (id: string, opts: UserOptions) => {
    if (!/^[1-9][0-9]{0,9}$/.test(id)) throw new ChatError('bad_request', `"${printable(id)}" is not a device id (the number \`e2ee-chat devices\` shows)`);
    const opened = await connectClient(opts);
    try {
      const removed = await opened.client.removeDevice(Number(id));
      if (jsonOutput()) writeJson({ type: 'removed-device', username: opts.user, ...removed });
      say(`removed ${printable(opts.user)}'s device ${removed.device} ("${printable(removed.name)}"); device list version ${removed.version}\n`);
    } finally {
      await opened.close();
    }
  });
}
