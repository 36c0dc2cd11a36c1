/**
 * A group's state as bytes to store, and back (ts-mls's TLS encoding of GroupState, RFC 9420 structures
 * throughout), behind a version byte of ours:
 *
 *   0x01 || encodeGroupState(state)
 *
 * The bytes hold every epoch secret of the group for this device, so a caller seals them at rest like
 * ratchet sessions (docs/design/groups-mls.md §6). They never hold the device's signing secret: the state
 * carries only the empty placeholder of ciphersuite.ts. Loading checks that the state's own leaf is this
 * device (its credential and its key), so a state can only be opened by the device it belongs to.
 */
import { decodeGroupState, encodeGroupState, getCiphersuiteFromName, type ClientState } from 'ts-mls';
import { getOwnLeafNode } from 'ts-mls/clientState.js';
import { concatBytes, type Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import { GROUP_CIPHERSUITE_NAME, SIGNING_SECRET_PLACEHOLDER } from './ciphersuite.js';
import { decodeMemberCredential } from './member-credential.js';
import { isOwnSignatureKey, type MlsDevice } from './mls-device.js';

export const GROUP_STATE_FORMAT = 0x01;

export function serializeGroupState(state: ClientState): Bytes {
  if (state.signaturePrivateKey.length !== 0) throw new TypeError('a group state holding a signing secret is never serialised');
  const { clientConfig: _config, ...groupState } = state;
  return concatBytes(Uint8Array.of(GROUP_STATE_FORMAT), encodeGroupState({ ...groupState, signaturePrivateKey: SIGNING_SECRET_PLACEHOLDER }));
}

function invalid(message: string, cause?: unknown): ChatError {
  return new ChatError('bad_request', `group state: ${message}`, cause === undefined ? undefined : { cause });
}

export function deserializeGroupState(device: MlsDevice, bytes: Uint8Array): ClientState {
  if (bytes[0] !== GROUP_STATE_FORMAT) throw invalid('unknown format');
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, 1);
  } catch (cause) {
    throw invalid('malformed', cause);
  }
  if (decoded === undefined || decoded[1] !== bytes.length - 1) throw invalid('malformed or trailing bytes');
  const state: ClientState = { ...decoded[0], clientConfig: device.clientConfig };
  if (state.groupContext.cipherSuite !== getCiphersuiteFromName(GROUP_CIPHERSUITE_NAME).name) throw invalid('another ciphersuite');
  const own = getOwnLeafNode(state);
  const member = decodeMemberCredential(own.credential);
  if (member === undefined || member.username !== device.identity.username || member.deviceId !== device.identity.deviceId || !isOwnSignatureKey(device, own.signaturePublicKey)) {
    throw invalid('belongs to another device');
  }
  return state;
}
