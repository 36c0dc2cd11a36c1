/**
 * MLSMessage framing (RFC 9420 §6) as our events carry it: every KeyPackage, Welcome, commit and
 * application message travels as the bytes of one MLSMessage, and is decoded here into exactly the kind
 * the caller expects, or refused.
 */
import { decodeMlsMessage, encodeMlsMessage, type ContentTypeName, type KeyPackage, type PrivateMessage, type Welcome } from 'ts-mls';
import type { Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';

function decodeExactly(bytes: Uint8Array): ReturnType<typeof decodeMlsMessage> {
  const decoded = (() => {
    try {
      return decodeMlsMessage(bytes, 0);
    } catch {
      return undefined;
    }
  })();
  if (decoded === undefined || decoded[1] !== bytes.length) throw new ChatError('bad_request', 'not one well-formed MLSMessage');
  if (decoded[0].version !== 'mls10') throw new ChatError('bad_request', 'MLSMessage of another protocol version');
  return decoded;
}

export function encodeKeyPackageMessage(keyPackage: KeyPackage): Bytes {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage }) as Bytes;
}

export function decodeKeyPackageMessage(bytes: Uint8Array): KeyPackage {
  const [message] = decodeExactly(bytes)!;
  if (message.wireformat !== 'mls_key_package') throw new ChatError('bad_request', 'expected an MLS KeyPackage');
  return message.keyPackage;
}

export function encodeWelcomeMessage(welcome: Welcome): Bytes {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome }) as Bytes;
}

export function decodeWelcomeMessage(bytes: Uint8Array): Welcome {
  const [message] = decodeExactly(bytes)!;
  if (message.wireformat !== 'mls_welcome') throw new ChatError('bad_request', 'expected an MLS Welcome');
  return message.welcome;
}

export function encodePrivateMessage(privateMessage: PrivateMessage): Bytes {
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage }) as Bytes;
}

/** Our groups send everything, commits included, as PrivateMessage: the relay sees group, epoch and kind only. */
export function decodePrivateMessage(bytes: Uint8Array): PrivateMessage {
  const [message] = decodeExactly(bytes)!;
  if (message.wireformat !== 'mls_private_message') throw new ChatError('bad_request', 'expected an MLS PrivateMessage');
  return message.privateMessage;
}

/** The cleartext header of a group message: what the Delivery Service orders and routes by. */
export interface GroupMessageHeader {
  readonly groupId: Bytes;
  readonly epoch: bigint;
  readonly contentType: ContentTypeName;
}

export function readGroupMessageHeader(bytes: Uint8Array): GroupMessageHeader {
  const message = decodePrivateMessage(bytes);
  return { groupId: Uint8Array.from(message.groupId), epoch: message.epoch, contentType: message.contentType };
}
