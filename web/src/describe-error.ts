/** An error in words for the screen: a ChatError's message and code, else the error's message. */
import { ChatError } from '../../src/client/index.js';

export function describeError(err: unknown): string {
  if (err instanceof ChatError) {
    if (err.code === 'username_taken') return 'That name is taken on this server: pick another.';
    return `${err.message} [${err.code}]`;
  }
  return err instanceof Error ? err.message : String(err);
}
