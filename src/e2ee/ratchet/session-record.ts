/**
 * A session record (libsignal's SessionRecord): the current ratchet state plus up to
 * MAX_ARCHIVED_STATES previous ones, newest first. Incoming messages are tried against the current state,
 * then each archived one; the first that decrypts becomes current (the state it replaces is archived).
 * This makes simultaneous initiation converge: each side ends up using whichever session the other
 * side last answered in.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { MAX_ARCHIVED_STATES } from './constants.js';
import { ratchetDecrypt, type RatchetOptions } from './ratchet.js';
import type { RatchetState } from './state.js';
import { constantTimeEqual } from '../../crypto/bytes.js';

export class SessionRecord {
  #current: RatchetState | undefined;
  #previous: RatchetState[];

  constructor(current?: RatchetState, previous: readonly RatchetState[] = []) {
    this.#current = current;
    this.#previous = previous.slice(0, MAX_ARCHIVED_STATES);
  }

  get current(): RatchetState | undefined {
    return this.#current;
  }

  get previous(): readonly RatchetState[] {
    return this.#previous;
  }

  /** Makes `state` current, archiving the former current state (oldest archived states fall off). */
  promote(state: RatchetState): void {
    const index = this.#previous.indexOf(state);
    if (index >= 0) this.#previous.splice(index, 1);
    if (this.#current && this.#current !== state) this.#previous.unshift(this.#current);
    this.#previous.length = Math.min(this.#previous.length, MAX_ARCHIVED_STATES);
    this.#current = state;
  }

  /** The state created by the PQXDH run whose ephemeral key was `baseKey`, if still kept. */
  findByBaseKey(baseKey: Uint8Array): RatchetState | undefined {
    return [this.#current, ...this.#previous].find((s) => s !== undefined && constantTimeEqual(s.baseKey, baseKey));
  }

  /** Tries current then archived states; the state that decrypts becomes current. */
  async decrypt(message: Uint8Array, options: RatchetOptions = {}): Promise<Bytes> {
    const candidates = [this.#current, ...this.#previous].filter((s): s is RatchetState => s !== undefined);
    if (candidates.length === 0) throw new DecryptionFailedError({ cause: new ChatError('bad_request', 'no session with this peer') });
    let first: unknown;
    for (const state of candidates) {
      try {
        const plaintext = await ratchetDecrypt(state, message, options);
        if (state !== this.#current) this.promote(state);
        return plaintext;
      } catch (error) {
        first ??= error instanceof DecryptionFailedError ? error.cause : error;
      }
    }
    throw new DecryptionFailedError({ cause: first });
  }

  toJSON(): Record<string, unknown> {
    return { type: 'SessionRecord', current: this.#current?.toJSON() ?? null, previous: this.#previous.length };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `SessionRecord { current: ${this.#current ? 'yes' : 'none'}, previous: ${this.#previous.length} }`;
  }
}
