/**
 * What can go wrong with an account's storage in this browser, other than a wrong passphrase (that is
 * crypto/passphrase-seal.ts's WrongPassphraseError, the same one the CLI throws). A stable `code` per
 * case, so the app picks its message without parsing ours.
 */
export type BrowserAccountErrorCode =
  /** No vault for this name in this browser profile: create the account, or link this browser. */
  | 'no_account'
  /** The account's vault exists but this device's keys were never stored (a link not finished). */
  | 'no_identity'
  /** Creating an account whose vault exists already (another tab was faster, or it existed). */
  | 'account_exists'
  /** A vault written by a newer app. */
  | 'unsupported'
  /** A passphrase change raced another one. */
  | 'conflict';

export class BrowserAccountError extends Error {
  constructor(
    readonly code: BrowserAccountErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BrowserAccountError';
  }
}
