#!/usr/bin/env node
/** The `e2ee-chat` command. Settings come from the environment, after loading `.env` if present. */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { installNodeCrypto } from '../crypto/node/node-crypto.js';
import { ChatError } from '../protocol/errors.js';
import { ConfigError } from '../server/config.js';
import { printable } from './terminal-text.js';
import { registerChatCommand } from './chat-command.js';
import { registerDevicesCommand } from './devices-command.js';
import { registerGroupCommand } from './group-command.js';
import { registerHistoryCommand } from './history-command.js';
import { registerKeysCommand } from './keys-command.js';
import { registerLinkCommand } from './link-command.js';
import { jsonOutput, writeJson } from './output.js';
import { registerOutboxCommand } from './outbox-command.js';
import { registerReceiveCommand } from './receive-command.js';
import { registerSendCommand } from './send-command.js';
import { registerSettingsCommand } from './settings-command.js';
import { registerServerCommand } from './server-command.js';
import { registerTrustCommand } from './trust-command.js';
import { registerUsersCommand } from './users-command.js';
import { registerVerifyCommand } from './verify-command.js';

// Not awaited: liboqs's ML-KEM module instantiates (~70 ms here) while the command reads its keys and
// connects to the server; any ML-KEM operation before that runs on @noble, with the same result.
void installNodeCrypto();

// Variables already set in the environment win over the .env file (process.loadEnvFile does not override).
if (existsSync('.env')) process.loadEnvFile('.env');

const program = new Command()
  .name('e2ee-chat')
  .description('End-to-end encrypted chat: a relay server that sees only ciphertext, and clients that hold every key.')
  .version('0.1.0')
  .showHelpAfterError()
  // Options after a command's name are that command's: `devices` and `devices approve` both take --user.
  .enablePositionalOptions();

registerServerCommand(program);
registerReceiveCommand(program);
registerChatCommand(program);
registerSendCommand(program);
registerHistoryCommand(program);
registerKeysCommand(program);
registerDevicesCommand(program);
registerGroupCommand(program);
registerLinkCommand(program);
registerOutboxCommand(program);
registerSettingsCommand(program);
registerTrustCommand(program);
registerUsersCommand(program);
registerVerifyCommand(program);

/**
 * An error's text can carry what a server sent (a ChatError's code and message come from its answer) or
 * what a file held, so every part goes through printable(). A stack keeps its line breaks between
 * frames, but each line is escaped on its own.
 */
function describeError(err: unknown): string {
  if (err instanceof ChatError) return `error [${printable(err.code)}]: ${printable(err.message)}`;
  if (err instanceof ConfigError) return `configuration error: ${printable(err.message)}`;
  if (!(err instanceof Error)) return `error: ${printable(String(err))}`;
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [`error: ${printable(err.message)}`, ...frames.map(printable)].join('\n');
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`${describeError(err)}\n`);
  // With --json, a script reads why the command failed from stdout too (raw strings, escaped by JSON).
  if (jsonOutput()) {
    const code = err instanceof ChatError ? err.code : err instanceof ConfigError ? 'configuration' : 'internal';
    writeJson({ type: 'error', code, message: err instanceof Error ? err.message : String(err), line: null });
  }
  process.exit(1);
});
