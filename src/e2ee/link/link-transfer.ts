/**
 * One message over the link (docs/PROTOCOL.md §18.5): cut into records, the first record riding in the
 * direction's CPace frame (cpace-b or confirm-a) and the rest in `more` frames, `final` set on the last;
 * and the receiving side, which opens the records in order and joins them. Shared by both roles.
 */
import { concatBytes, type Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import { splitLinkMessage, type LinkRecordOpener, type LinkRecordSealer } from './link-channel.js';
import { encodeLinkFrame, LINK_FRAME_TYPE, type LinkFrame, type LinkRecordPart } from './link-frames.js';

/**
 * The frames that carry `message`; `first` wraps the first record part in its CPace frame. At most
 * `maxFrames` frames: the relay passes no more per direction, so a longer message fails here, before
 * anything is sent.
 */
export function linkMessageFrames(
  sealer: LinkRecordSealer,
  message: Uint8Array,
  maxFrames: number,
  first: { readonly type: 'cpace-b' | 'confirm-a'; readonly build: (part: LinkRecordPart) => LinkFrame },
): Bytes[] {
  const parts = splitLinkMessage(message);
  if (parts.length > maxFrames) {
    throw new ChatError('link_failed', `this message needs ${parts.length} link frames; the relay carries at most ${maxFrames}`);
  }
  return parts.map((plaintext, i) => {
    const final = i === parts.length - 1;
    const type = i === 0 ? first.type : 'more';
    const part = { final, record: sealer.seal(LINK_FRAME_TYPE[type], final, plaintext) };
    return encodeLinkFrame(i === 0 ? first.build(part) : { type: 'more', ...part });
  });
}

/** Opens one message's records in order and returns the message with its final record. */
export class LinkMessageCollector {
  readonly #opener: LinkRecordOpener;
  readonly #maxRecords: number;
  readonly #parts: Bytes[] = [];

  constructor(opener: LinkRecordOpener, maxRecords: number) {
    this.#opener = opener;
    this.#maxRecords = maxRecords;
  }

  /** Throws `link_failed` when the record does not open or the message runs past `maxRecords`. */
  add(frameType: LinkFrame['type'], part: LinkRecordPart): Bytes | undefined {
    if (this.#parts.length >= this.#maxRecords) throw new ChatError('link_failed', `the other device sent more than ${this.#maxRecords} link records`);
    this.#parts.push(this.#opener.open(LINK_FRAME_TYPE[frameType], part.final, part.record));
    if (!part.final) return undefined;
    const message = concatBytes(...this.#parts);
    for (const p of this.#parts) p.fill(0);
    this.#parts.length = 0;
    return message;
  }
}
