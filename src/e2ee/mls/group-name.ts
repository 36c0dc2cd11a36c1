/**
 * The human name of a group, carried in its GroupContext as an extension of our own (RFC 9420 §13.4:
 * GroupContext extensions; code points 0xF000–0xFFFF are for private use, §17.3). In the GroupContext it
 * is part of what every member agrees on at each epoch: a joiner reads it from the Welcome's GroupInfo,
 * signed by the committer, and the server never sees it (our commits are PrivateMessages).
 *
 * extension_data = 0x01 (format) || UTF-8 name (1 … GROUP_NAME_MAX_BYTES bytes)
 *
 * ts-mls adds a member only when its KeyPackage lists every non-default GroupContext extension in its
 * capabilities, so key-package.ts advertises this type.
 */
import type { ClientState, Extension } from 'ts-mls';
import { concatBytes, utf8Decode, utf8Encode } from '../../crypto/bytes.js';

export const GROUP_NAME_EXTENSION_TYPE = 0xf0e2;
const GROUP_NAME_FORMAT = 0x01;
/** Long enough for any name a person types; short enough to cost nothing in every Welcome. */
export const GROUP_NAME_MAX_BYTES = 128;

export function groupNameExtension(name: string): Extension {
  const bytes = utf8Encode(name);
  if (bytes.length === 0 || bytes.length > GROUP_NAME_MAX_BYTES) throw new RangeError(`"name" expected 1 … ${GROUP_NAME_MAX_BYTES} bytes of UTF-8`);
  return { extensionType: GROUP_NAME_EXTENSION_TYPE, extensionData: concatBytes(Uint8Array.of(GROUP_NAME_FORMAT), bytes) };
}

/** The name in a group's context; undefined when it has none or it is not one we can read. */
export function groupNameOf(state: ClientState): string | undefined {
  const ext = state.groupContext.extensions.find((e) => e.extensionType === GROUP_NAME_EXTENSION_TYPE);
  const data = ext?.extensionData;
  if (data === undefined || data.length < 2 || data.length > GROUP_NAME_MAX_BYTES + 1 || data[0] !== GROUP_NAME_FORMAT) return undefined;
  try {
    return utf8Decode(data.subarray(1));
  } catch {
    return undefined;
  }
}
