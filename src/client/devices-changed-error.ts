/**
 * The server's `devices_changed` refusal (docs/PROTOCOL.md §19.7, §19.12) as the client sees it: the
 * request named other devices than the current ones, and `details` carries, for every user of the
 * request, which devices were missing or stale and the current signed list. Nothing in it is trusted
 * before the lists are verified (§21.4).
 */
import type { DevicesChangedDetails } from '../protocol/events-v2.js';
import { ChatError } from '../protocol/errors.js';

export class DevicesChangedError extends ChatError {
  constructor(
    message: string,
    readonly details: DevicesChangedDetails,
  ) {
    super('devices_changed', message);
    this.name = 'DevicesChangedError';
  }
}
