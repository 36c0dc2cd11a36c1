/**
 * The account is open in another tab of this browser (it holds the account's tab lock): this tab may
 * not use it alongside, only take it over, which stops the other tab (app-stores.ts says why).
 */
export class AccountInUseError extends Error {
  constructor(readonly username: string) {
    super(`${username} is open in another tab of this browser`);
    this.name = 'AccountInUseError';
  }
}
