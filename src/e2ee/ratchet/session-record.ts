/**
 * A session record (libsignal's SessionRecord): the current ratchet state plus up to
 * MAX_ARCHIVED_STATES previous ones, newest first. Incoming messages are tried against the current state,
 * then each archived one; the first that decrypts becomes current (the state it replaces is archived).
 * This makes simultaneous initiation converge: each side ends up using whichever session the other
 * side last answered in.
 *
 * Bounded against a hostile peer (constants.ts), after every change: at most MAX_ARCHIVED_STATES
 * archived states (the oldest go); at most MAX_SKIPPED_KEYS_PER_SESSION skipped keys in all, the oldest
 * archived states losing theirs first; archived states within MAX_ARCHIVED_STATES_BYTES, again by
 * dropping the oldest states' keys first and only then the oldest states. A record loaded from an older,
 * larger pickle is trimmed the same way.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { MAX_ARCHIVED_STATES, MAX_ARCHIVED_STATES_BYTES, MAX_SKIPPED_KEYS_PER_SESSION } from './constants.js';
import { ratchetDecrypt, type RatchetOptions } from './ratchet.js';
import type { RatchetState } from './state.js';
import { pickledStateSize } from './state-size.js';
import { constantTimeEqual } from '../../crypto/bytes.js';

/** A skipped key's share of a pickle at most: ["<43>",<10 digits>,"<43>"] and a comma (state-size.ts). */
const LARGEST_SKIPPED_KEY_BYTES = 105;

export class SessionRecord {
  #current: RatchetState | undefined;
  #previous: RatchetState[];

  constructor(current?: RatchetState, previous: readonly RatchetState[] = []) {
    this.#current = current;
    this.#previous = previous.slice(0, MAX_ARCHIVED_STATES);
    this.#enforceBounds();
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
    this.#current = state;
    this.#enforceBounds();
  }

  /** The limits of constants.ts; oldest keys and states go first. */
  #enforceBounds(): void {
    this.#previous.length = Math.min(this.#previous.length, MAX_ARCHIVED_STATES);
    // Oldest first: archived states from the last; the current state only if nothing older is left.
    const archivedOldestFirst = [...this.#previous].reverse();
    const all = this.#current ? [...archivedOldestFirst, this.#current] : archivedOldestFirst;
    let excessKeys = all.reduce((n, s) => n + s.counters.skipped, 0) - MAX_SKIPPED_KEYS_PER_SESSION;
    for (const state of all) {
      if (excessKeys <= 0) break;
      excessKeys -= state.dropOldestSkippedKeys(excessKeys);
    }
    // Over the archive's byte cap: the oldest archived states' keys go first, then the oldest states.
    let excessBytes = this.#previous.reduce((n, s) => n + pickledStateSize(s), 0) - MAX_ARCHIVED_STATES_BYTES;
    for (const state of archivedOldestFirst) {
      while (excessBytes > 0 && state.counters.skipped > 0) {
        const before = pickledStateSize(state);
        state.dropOldestSkippedKeys(Math.ceil(excessBytes / LARGEST_SKIPPED_KEY_BYTES));
        excessBytes -= before - pickledStateSize(state);
      }
    }
    while (excessBytes > 0 && this.#previous.length > 0) excessBytes -= pickledStateSize(this.#previous.pop()!);
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
        else this.#enforceBounds(); // the message may have added skipped keys
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
