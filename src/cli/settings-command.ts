/**
 * `e2ee-chat settings [name] [value]`: the user's preferences, kept in `settings.json` in the user's
 * folder (user-settings.ts). Without arguments it lists them; with a name, it shows one; with a value,
 * it changes it. Reads and writes local files only: no server, no passphrase (nothing in it is secret).
 * One setting so far: read-receipts (on by default; `--no-read-receipts` turns it off for one run).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { changeSettings, readSettings, type UserSettings } from '../client/node/user-settings.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, folderFor, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

/** Each setting as the command names it, with how it reads and writes its words. */
const SETTINGS = {
  'read-receipts': {
    describe: 'tell senders when their messages were shown to you (end-to-end encrypted; the server cannot read it)',
    show: (s: UserSettings) => (s.readReceipts ? 'on' : 'off'),
    parse: (value: string): Partial<UserSettings> => {
      if (value === 'on') return { readReceipts: true };
      if (value === 'off') return { readReceipts: false };
      throw new ChatError('bad_request', `read-receipts is "on" or "off", not "${printable(value)}"`);
    },
  },
} as const;

type SettingName = keyof typeof SETTINGS;

const isSettingName = (name: string): name is SettingName => Object.hasOwn(SETTINGS, name);

export function registerSettingsCommand(program: Command): void {
  addUserOptions(
    program
      .command('settings')
      .description('show or change your preferences (local; no server needed)')
      .argument('[name]', `a setting: ${Object.keys(SETTINGS).join(', ')}`)
      .argument('[value]', 'its new value (on or off)')
      .addHelpText(
        'after',
        '\nSettings:\n' +
          Object.entries(SETTINGS)
            .map(([name, s]) => `  ${name} on|off   ${s.describe} (default on)`)
            .join('\n') +
          '\n\nExamples: e2ee-chat settings; e2ee-chat settings read-receipts off --user alice.\n' +
          'They are kept in settings.json in the user\'s folder; --no-read-receipts on receive and chat turns\n' +
          'read receipts off for one run whatever the setting says.',
      ),
  ).action(async (name: string | undefined, value: string | undefined, opts: UserOptions) => {
    const folder = folderFor(opts);
    // Settings belong to a user who has keys here: a typo in --user must not leave a stray folder.
    if (!existsSync(folder.identityFile)) {
      throw new ChatError('no_local_user', `${opts.user} has no keys in ${folder.dir}; create them with: e2ee-chat receive --user ${opts.user}`);
    }
    if (name !== undefined && !isSettingName(name)) {
      throw new ChatError('bad_request', `no setting named "${printable(name)}"; settings: ${Object.keys(SETTINGS).join(', ')}`);
    }
    const settings = value === undefined ? await readSettings(folder.settingsFile) : await changeSettings(folder.settingsFile, SETTINGS[name!].parse(value));
    const names = name === undefined ? (Object.keys(SETTINGS) as SettingName[]) : [name];
    for (const n of names) process.stdout.write(`${n} ${SETTINGS[n].show(settings)}\n`);
  });
}
