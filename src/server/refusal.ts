/**
 * A refusal that carries protocol 2's `details` (PROTOCOL.md §19.12): `devices_changed` names the
 * devices a request missed or named in vain with each user's current list; the quota codes name the full
 * queue. The dispatcher puts `details` in the answer's error object on protocol-2 connections only: a
 * protocol-1 error object has a code and a message and nothing else.
 */
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import type { ErrorDetails } from '../protocol/events-v2.js';

export class RefusalWithDetails extends ChatError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly details: ErrorDetails,
  ) {
    super(code, message);
    this.name = 'RefusalWithDetails';
  }
}
