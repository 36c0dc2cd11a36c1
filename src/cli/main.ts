#!/usr/bin/env node
/** The `e2ee-chat` command. Settings come from the environment, after loading `.env` if present. */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { installNodeCrypto } from '../crypto/node/node-crypto.js';
import { ChatError } from '../protocol/errors.js';
import { ConfigError } from '../server/config.js';
import { printable } from './terminal-text.js';
import { registerKeysCommand } from './keys-command.js';
import { registerOutboxCommand } from './outbox-command.js';
import { registerReceiveCommand } from './receive-command.js';
import { registerSendCommand } from './send-command.js';
import { registerServerCommand } from './server-command.js';
import { registerTrustCommand } from './trust-command.js';
import { registerUsersCommand } from './users-command.js';
import { registerVerifyCommand } from './verify-command.js';

installNodeCrypto();

// Variables already set in the environment win over the .env file (process.loadEnvFile does not override).
if (existsSync('.env')) process.loadEnvFile('.env');

const program = new Command()
  .name('e2ee-chat')
  .description('End-to-end encrypted chat: a relay server that sees only ciphertext, and clients that hold every key.')
  .version('0.1.0')
  .showHelpAfterError();

registerServerCommand(program);
registerReceiveCommand(program);
registerSendCommand(program);
registerKeysCommand(program);
registerOutboxCommand(program);
registerTrustCommand(program);
registerUsersCommand(program);
registerVerifyCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // A ChatError's text may come from the server: shown through the one sanitiser.
  if (err instanceof ChatError) process.stderr.write(`error [${err.code}]: ${printable(err.message)}\n`);
  else if (err instanceof ConfigError) process.stderr.write(`configuration error: ${err.message}\n`);
  else process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
