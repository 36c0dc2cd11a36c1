/**
 * `e2ee-chat devices`: the user's devices, one line each (id, name, when added, when last seen), this
 * one marked with `*`. Alone it lists; subcommands that change the list (approve, remove) come under it.
 * The devices and their names are the signed list, verified by the client; "last seen" is the server's
 * word, which the client cannot check.
 */
import type { Command } from 'commander';
import type { OwnDevice } from '../client/own-devices.js';
import { addUserOptions, connectClient, type UserOptions } from './common.js';
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
  addUserOptions(
    program
      .command('devices')
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
}
