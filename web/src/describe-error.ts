/** An error in words for the screen: a ChatError's message and code, the browser stores' errors as advice, else the error's message. */
import { ChatError } from '../../src/client/index.js';
import { BrowserAccountError, WrongPassphraseError } from '../../src/client/browser/index.js';

export function describeError(err: unknown): string {
  if (err instanceof ChatError) {
    if (err.code === 'username_taken') return 'That name is taken on this server: pick another.';
    return `${err.message} [${err.code}]`;
  }
  if (err instanceof WrongPassphraseError) return 'Wrong passphrase: nothing was unlocked. Try again.';
  if (err instanceof BrowserAccountError) {
    if (err.code === 'no_account') return 'This browser holds no account of that name: create it, or link this browser to it.';
    if (err.code === 'account_exists') return 'This browser already holds an account of that name: unlock it with its passphrase.';
  }
  return err instanceof Error ? err.message : String(err);
}
