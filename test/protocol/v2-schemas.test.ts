/**
 * The wire contract of protocol 2 (docs/design/devices-v2.md §5, §6.3): every schema accepts the
 * design's examples, written here as the design writes them with realistic lengths in place of its
 * placeholders, and refuses the malformed variants a hostile or broken peer could send. Refusals are
 * checked by the path of the first issue, which is what the server's `bad_request` message starts with.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { base64urlEncode, randomBytes, utf8Encode } from '../../src/crypto/bytes.js';
import { LOGIN_V2_LABEL, loginMessageV2 } from '../../src/protocol/auth-message.js';
import {
  clientEventSchemas,
  clientEventSchemasByProtocol,
  clientEventSchemasV2,
  isClientEventNameOf,
  payloadProtocol,
} from '../../src/protocol/client-event-schemas.js';
import { DEVICE_LIST_MAX_BYTES, deviceListWireSchema, MAX_DEVICE_ID } from '../../src/protocol/device-list-wire.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import { CLIENT_EVENTS } from '../../src/protocol/events.js';
import { CLIENT_EVENTS_V2, type ClientEventNameV2, type ClientEventResultsV2 } from '../../src/protocol/events-v2.js';
import {
  DEVICE_SET_RETRIES,
  LINK_CODE_SECRET_CHARS,
  LINK_MAX_FRAME_CHARS,
  LINK_MAX_FRAMES,
  LINK_TTL_MS,
  MAX_DEVICES_PER_USER,
  MAX_ENVELOPES_PER_SEND,
  MAX_HISTORY_ON_LINK,
  MAX_OPEN_LINKS,
} from '../../src/protocol/limits.js';
import {
  answerSchemas,
  answerSchemasByProtocol,
  answerSchemasV2,
  serverErrorSchema,
  serverErrorSchemaByProtocol,
  serverErrorV2Schema,
  serverEventSchemas,
  serverEventSchemasByProtocol,
  serverEventSchemasV2,
} from '../../src/protocol/server-event-schemas.js';
import { ratchetEnvelope } from '../helpers/envelopes.js';

// ---------------------------------------------------------------------------------------------------
// Realistic values for the design's placeholders (the schemas check lengths and alphabets, not content).
// ---------------------------------------------------------------------------------------------------

const b64 = (bytes: number) => base64urlEncode(randomBytes(bytes));
const signature = () => b64(64); // "<86>"
const key32 = () => b64(32); // "<43>"
const kemKey = () => b64(1568); // "<2091>"
const serverId = () => b64(16); // "<22 chars>"
const sid = () => b64(16);
const clientId = () => b64(16);

function rsaModulus(): string {
  const n = randomBytes(256);
  n[0]! |= 0x80;
  n[255]! |= 1;
  return base64urlEncode(n);
}

/** A device list's wire object: a payload of the length §4.2 gives `devices` devices with 6-byte names. */
function deviceList(devices = 2, username = 'alice') {
  const payload = randomBytes(52 + username.length + devices * (335 + 6));
  payload[0] = 0x02;
  return { list: base64urlEncode(payload), signature: signature() };
}

const signingKey = () => ({ kty: 'OKP', crv: 'Ed25519', x: key32() });
const encryptionKey = () => ({ kty: 'RSA', n: rsaModulus(), e: 'AQAB' });

/** Parses and returns the output, failing the test with zod's issues when refused. */
function accepts<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  expect(parsed.error?.issues ?? []).toEqual([]);
  return parsed.data as z.output<S>;
}

/** Expects a refusal whose first issue is at `path` (joined by "." as in a bad_request message). */
function refuses(schema: z.ZodType, value: unknown, path: string): void {
  const parsed = schema.safeParse(value);
  expect(parsed.success, `expected a refusal at ${path}`).toBe(false);
  expect(parsed.error!.issues[0]!.path.join('.')).toBe(path);
}

const without = <T extends object>(value: T, member: keyof T) => Object.fromEntries(Object.entries(value).filter(([k]) => k !== member));

// ---------------------------------------------------------------------------------------------------

describe('protocol 2 limits and codes', () => {
  it('has the limits of §3.3 and the error codes of §5.11', () => {
    expect({ MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND, LINK_CODE_SECRET_CHARS, LINK_TTL_MS, MAX_OPEN_LINKS }).toEqual({
      MAX_DEVICES_PER_USER: 6,
      MAX_ENVELOPES_PER_SEND: 11,
      LINK_CODE_SECRET_CHARS: 8,
      LINK_TTL_MS: 600_000,
      MAX_OPEN_LINKS: 10_000,
    });
    expect({ LINK_MAX_FRAME_CHARS, LINK_MAX_FRAMES, MAX_HISTORY_ON_LINK, DEVICE_SET_RETRIES }).toEqual({
      LINK_MAX_FRAME_CHARS: 65_536,
      LINK_MAX_FRAMES: 64,
      MAX_HISTORY_ON_LINK: 10_000,
      DEVICE_SET_RETRIES: 3,
    });
    for (const code of ['devices_changed', 'device_list_outdated', 'unknown_device', 'upgrade_required', 'unknown_link', 'link_limit', 'not_primary', 'unsupported_server']) {
      expect(ERROR_CODES, code).toContain(code);
    }
  });
});

describe('a device list on the wire', () => {
  it('is {list, signature} with a list of a length a list can have', () => {
    accepts(deviceListWireSchema, deviceList(1));
    accepts(deviceListWireSchema, { list: base64urlEncode(randomBytes(DEVICE_LIST_MAX_BYTES)), signature: signature() });
  });

  it('refuses an extra member, a short signature, and lists too short, too long or of an impossible length', () => {
    refuses(deviceListWireSchema, { ...deviceList(), version: 5 }, '');
    refuses(deviceListWireSchema, { ...deviceList(), signature: signature().slice(1) }, 'signature');
    refuses(deviceListWireSchema, { list: b64(300), signature: signature() }, 'list');
    refuses(deviceListWireSchema, { list: base64urlEncode(randomBytes(DEVICE_LIST_MAX_BYTES + 1)), signature: signature() }, 'list');
    refuses(deviceListWireSchema, { list: `${b64(600)}A`, signature: signature() }, 'list');
    refuses(deviceListWireSchema, { list: `${deviceList().list.slice(1)}=`, signature: signature() }, 'list');
  });
});

describe('version negotiation and login (§5.1–§5.3)', () => {
  it('the challenge answer lists the protocols; without them it is a 0.1 server, which v1 clients read as before', () => {
    const answer = { ok: true, challenge: key32(), protocols: [1, 2] };
    expect(accepts(answerSchemasV2.challenge, answer).protocols).toEqual([1, 2]);
    expect(accepts(answerSchemasV2.challenge, { ok: true, challenge: key32() }).protocols).toBeUndefined();
    expect(accepts(answerSchemas.challenge, answer)).not.toHaveProperty('protocols');
    refuses(answerSchemasV2.challenge, { ...answer, protocols: [] }, 'protocols');
    refuses(answerSchemasV2.challenge, { ...answer, protocols: ['2'] }, 'protocols.0');
  });

  it('a v2 register is v1 register with protocol 2 and the first device list', () => {
    const payload = { username: 'alice', signingKey: signingKey(), encryptionKey: encryptionKey(), signature: signature(), protocol: 2, deviceList: deviceList(1) };
    accepts(clientEventSchemasV2.register, payload);
    refuses(clientEventSchemasV2.register, without(payload, 'deviceList'), 'deviceList');
    refuses(clientEventSchemasV2.register, { ...payload, protocol: 1 }, 'protocol');
    refuses(clientEventSchemasV2.register, { ...payload, device: 1 }, '');
    refuses(clientEventSchemasV2.register, { ...payload, deviceList: { ...deviceList(1), version: 1 } }, 'deviceList');
  });

  it('a v2 login names the device, and its signed text has the device id on its own line', () => {
    const payload = { username: 'alice', device: 3, protocol: 2, signature: signature() };
    accepts(clientEventSchemasV2.login, payload);
    refuses(clientEventSchemasV2.login, { ...payload, device: 0 }, 'device');
    refuses(clientEventSchemasV2.login, { ...payload, device: 2 ** 31 }, 'device');
    refuses(clientEventSchemasV2.login, { ...payload, device: 1.5 }, 'device');
    refuses(clientEventSchemasV2.login, { ...payload, device: '3' }, 'device');
    refuses(clientEventSchemasV2.login, without(payload, 'protocol'), 'protocol');
    refuses(clientEventSchemasV2.login, { ...payload, from: 'bob' }, '');

    const challenge = key32();
    expect(loginMessageV2({ challenge, username: 'alice', device: 3 })).toEqual(utf8Encode(`e2ee-chat/v2/login\n${challenge}\nalice\n3`));
    expect(LOGIN_V2_LABEL).toBe('e2ee-chat/v2/login');
    expect(new TextDecoder().decode(loginMessageV2({ challenge, username: 'alice', device: MAX_DEVICE_ID })).split('\n')[3]).toBe('2147483647');
    for (const device of [0, -1, 1.5, 2 ** 31, Number.NaN]) expect(() => loginMessageV2({ challenge, username: 'alice', device }), String(device)).toThrow(RangeError);
  });

  it('the session answer names the device, the protocol and the v2 limits', () => {
    const answer = {
      ok: true,
      username: 'alice',
      device: 3,
      protocol: 2,
      registered: false,
      limits: { maxEnvelopeBytes: 65536, maxDevicesPerUser: 6, maxEnvelopesPerSend: 11 },
    };
    accepts(answerSchemasV2.login, answer);
    accepts(answerSchemasV2.register, { ...answer, device: 1, registered: true });
    refuses(answerSchemasV2.login, { ...answer, protocol: 1 }, 'protocol');
    refuses(answerSchemasV2.login, without(answer, 'device'), 'device');
    refuses(answerSchemasV2.login, { ...answer, limits: { maxEnvelopeBytes: 65536 } }, 'limits.maxDevicesPerUser');
  });
});

describe('devices.list and devices.publish (§5.4, §5.7)', () => {
  it('devices.list asks for one user and answers the list, null without one, lastSeen for oneself', () => {
    accepts(clientEventSchemasV2['devices.list'], { username: 'bob' });
    refuses(clientEventSchemasV2['devices.list'], { username: 'bob', device: 1 }, '');
    const own = { ok: true, username: 'bob', deviceList: deviceList(2, 'bob'), lastSeen: [{ device: 1, at: 1795776494638 }, { device: 2, at: 1795776490001 }] };
    accepts(answerSchemasV2['devices.list'], own);
    expect(accepts(answerSchemasV2['devices.list'], { ok: true, username: 'bob', deviceList: null }).deviceList).toBeNull();
    refuses(answerSchemasV2['devices.list'], { ok: true, username: 'bob' }, 'deviceList');
    refuses(answerSchemasV2['devices.list'], { ...own, lastSeen: [{ device: 1, at: 1 }, { device: 1, at: 2 }] }, 'lastSeen');
  });

  it('devices.publish carries the list and, when it adds one, the added device with its first prekeys', () => {
    const added = {
      device: 3,
      identity: { dhKey: key32(), binding: signature() },
      signedPreKey: { id: 1, publicKey: key32(), signature: signature() },
      lastResortKemPreKey: { id: 2, publicKey: kemKey(), signature: signature() },
    };
    accepts(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added });
    accepts(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(2) });
    refuses(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added, removed: [2] }, '');
    refuses(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added: { ...added, device: 1 } }, 'added.device');
    refuses(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added: { ...added, name: 'laptop' } }, 'added');
    refuses(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added: { ...added, identity: { ...added.identity, signingKey: key32() } } }, 'added.identity');
    refuses(clientEventSchemasV2['devices.publish'], { deviceList: deviceList(3), added: without(added, 'lastResortKemPreKey') }, 'added.lastResortKemPreKey');
    accepts(answerSchemasV2['devices.publish'], { ok: true, version: 5 });
    refuses(answerSchemasV2['devices.publish'], { ok: true, version: 0 }, 'version');
  });
});

describe('send (§5.5)', () => {
  const example = () => ({
    id: clientId(),
    messages: [
      { to: 'bob', device: 1, envelope: ratchetEnvelope() },
      { to: 'bob', device: 2, envelope: ratchetEnvelope() },
      { to: 'alice', device: 2, envelope: ratchetEnvelope() },
    ],
  });
  const schema = clientEventSchemasV2.send;

  it('accepts one envelope per device, up to 6 of the recipient and 5 of the sender', () => {
    accepts(schema, example());
    const full = [1, 2, 3, 4, 5, 6].map((device) => ({ to: 'bob', device, envelope: ratchetEnvelope() }));
    full.push(...[2, 3, 4, 5, 6].map((device) => ({ to: 'alice', device, envelope: ratchetEnvelope() })));
    accepts(schema, { id: clientId(), messages: full });
    accepts(schema, { id: clientId(), messages: [{ to: 'alice', device: 3, envelope: ratchetEnvelope() }] });
  });

  it('refuses 12 messages, none, three users, an address twice and device ids out of range', () => {
    const twelve = Array.from({ length: 12 }, (_, i) => ({ to: i < 6 ? 'bob' : 'alice', device: (i % 6) + 1, envelope: ratchetEnvelope() }));
    refuses(schema, { id: clientId(), messages: twelve }, 'messages');
    refuses(schema, { id: clientId(), messages: [] }, 'messages');
    const base = example();
    refuses(schema, { ...base, messages: [...base.messages, { to: 'carol', device: 1, envelope: ratchetEnvelope() }] }, 'messages.3.to');
    refuses(schema, { ...base, messages: [...base.messages, { to: 'bob', device: 2, envelope: ratchetEnvelope() }] }, 'messages.3.device');
    refuses(schema, { ...base, messages: [{ ...base.messages[0]!, device: 0 }] }, 'messages.0.device');
    refuses(schema, { ...base, messages: [{ ...base.messages[0]!, device: 2 ** 31 }] }, 'messages.0.device');
  });

  it('refuses a missing id, an extra member and the v1 shape', () => {
    refuses(schema, without(example(), 'id'), 'id');
    refuses(schema, { ...example(), to: 'bob' }, '');
    const base = example();
    refuses(schema, { ...base, messages: [{ ...base.messages[0]!, from: 'alice' }] }, 'messages.0');
    refuses(schema, { ...base, messages: [{ ...base.messages[0]!, envelope: { ...ratchetEnvelope(), extra: 1 } }] }, 'messages.0.envelope');
    refuses(schema, { to: 'bob', id: clientId(), envelope: ratchetEnvelope() }, 'messages');
  });

  it('answers one delivery per message, in order', () => {
    const answer = {
      ok: true,
      deliveries: [
        { to: 'bob', device: 1, id: serverId(), sentAt: 1795776497062, status: 'delivered' },
        { to: 'bob', device: 2, id: serverId(), sentAt: 1795776497062, status: 'queued' },
        { to: 'alice', device: 2, id: serverId(), sentAt: 1795776490001, status: 'delivered', duplicate: true },
      ],
    };
    expect(accepts(answerSchemasV2.send, answer).deliveries.map((d) => d.device)).toEqual([1, 2, 2]);
    refuses(answerSchemasV2.send, { ok: true, deliveries: [] }, 'deliveries');
    refuses(answerSchemasV2.send, { ok: true, deliveries: [{ ...answer.deliveries[0]!, status: 'read' }] }, 'deliveries.0.status');
    refuses(answerSchemasV2.send, { ok: true, deliveries: [{ ...answer.deliveries[0]!, duplicate: false }] }, 'deliveries.0.duplicate');
    refuses(answerSchemasV2.send, { ok: true, id: serverId(), sentAt: 1, status: 'queued' }, 'deliveries');
  });
});

describe('refusals with details (§5.5.4, §9.4)', () => {
  const devicesChanged = () => ({
    code: 'devices_changed',
    message: 'bob has devices you did not write to (3) and you wrote to devices bob no longer has (2)',
    details: {
      users: [
        { username: 'bob', missing: [3], stale: [2], deviceList: deviceList(2, 'bob') },
        { username: 'alice', missing: [], stale: [], deviceList: deviceList(2) },
      ],
    },
  });

  it('devices_changed carries every user of the send with its current list', () => {
    const error = accepts(serverErrorV2Schema, devicesChanged());
    expect(error.code === 'devices_changed' && error.details.users.map((u) => u.username)).toEqual(['bob', 'alice']);
    const noList = devicesChanged();
    noList.details.users[1] = { username: 'alice', missing: [], stale: [], deviceList: null } as never;
    accepts(serverErrorV2Schema, noList);
    // A v1 client reads the same error and ignores the details.
    expect(accepts(serverErrorSchema, devicesChanged())).not.toHaveProperty('details');
  });

  it('refuses devices_changed without details, or with details no client could act on', () => {
    const users = devicesChanged().details.users;
    refuses(serverErrorV2Schema, without(devicesChanged(), 'details'), 'details');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [] } }, 'details.users');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [{ ...users[0]!, missing: [2] }] } }, 'details.users.0');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [{ ...users[0]!, stale: [2, 2] }] } }, 'details.users.0.stale');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [users[0], users[0]] } }, 'details.users');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [users[1]] } }, 'details.users');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [{ ...users[0]!, deviceList: { list: 'x', signature: 'y' } }] } }, 'details.users.0.deviceList.list');
    refuses(serverErrorV2Schema, { ...devicesChanged(), details: { users: [without(users[0]!, 'deviceList')] } }, 'details.users.0.deviceList');
  });

  it('quota refusals may name the full device; other codes keep no details; unknown codes are refused', () => {
    const quota = accepts(serverErrorV2Schema, { code: 'quota_exceeded', message: "bob's device 2 has too much waiting", details: { to: 'bob', device: 2 } });
    expect(quota).toEqual({ code: 'quota_exceeded', message: "bob's device 2 has too much waiting", details: { to: 'bob', device: 2 } });
    accepts(serverErrorV2Schema, { code: 'sender_quota_exceeded', message: 'too much for bob/1' });
    refuses(serverErrorV2Schema, { code: 'quota_exceeded', message: 'full', details: { to: 'bob', device: 0 } }, 'details.device');
    expect(accepts(serverErrorV2Schema, { code: 'upgrade_required', message: 'bob uses several devices', details: { x: 1 } })).toEqual({
      code: 'upgrade_required',
      message: 'bob uses several devices',
    });
    refuses(serverErrorV2Schema, { code: 'no_such_code', message: '' }, 'code');
  });
});

describe('prekeys.bundle (§5.10)', () => {
  it('asks for 1 … 6 distinct devices of one user', () => {
    const schema = clientEventSchemasV2['prekeys.bundle'];
    accepts(schema, { username: 'bob', devices: [1, 2] });
    refuses(schema, { username: 'bob', devices: [] }, 'devices');
    refuses(schema, { username: 'bob', devices: [1, 2, 3, 4, 5, 6, 7] }, 'devices');
    refuses(schema, { username: 'bob', devices: [1, 2, 1] }, 'devices.2');
    refuses(schema, { username: 'bob', devices: [0] }, 'devices.0');
    refuses(schema, { username: 'bob' }, 'devices');
    refuses(schema, { username: 'bob', devices: [1], device: 1 }, '');
  });

  it('answers one bundle per device, in the order asked, each naming its device', () => {
    const bundle = (device: number) => ({
      device,
      identity: { signingKey: key32(), dhKey: key32(), binding: signature() },
      signedPreKey: { id: 7, publicKey: key32(), signature: signature() },
      kemPreKey: { id: 8, publicKey: kemKey(), signature: signature() },
      oneTimePreKey: { id: 9, publicKey: key32() },
    });
    const answer = { ok: true, username: 'bob', bundles: [bundle(1), without(bundle(2), 'oneTimePreKey')] };
    expect(accepts(answerSchemasV2['prekeys.bundle'], answer).bundles.map((b) => b.device)).toEqual([1, 2]);
    refuses(answerSchemasV2['prekeys.bundle'], { ...answer, bundles: [without(bundle(1), 'device')] }, 'bundles.0.device');
    refuses(answerSchemasV2['prekeys.bundle'], { ...answer, bundles: [] }, 'bundles');
    refuses(answerSchemasV2['prekeys.bundle'], { ok: true, ...without(bundle(1), 'device'), username: 'bob' }, 'bundles');
  });
});

describe('the link relay (§6.3)', () => {
  it('accepts the open, join, send and close of the design and their answers', () => {
    accepts(clientEventSchemasV2['link.open'], { username: 'alice', sid: sid() });
    accepts(answerSchemasV2['link.open'], { ok: true, slot: '417', expiresAt: 1795777094638 });
    accepts(clientEventSchemasV2['link.join'], { slot: '417', sid: sid() });
    accepts(answerSchemasV2['link.join'], { ok: true, slot: '417', sid: sid() });
    accepts(clientEventSchemasV2['link.send'], { slot: '417', data: b64(97) });
    accepts(clientEventSchemasV2['link.send'], { slot: '999999', data: 'A'.repeat(LINK_MAX_FRAME_CHARS) });
    accepts(answerSchemasV2['link.send'], { ok: true });
    accepts(clientEventSchemasV2['link.close'], { slot: '1' });
    accepts(answerSchemasV2['link.close'], { ok: true });
  });

  it('refuses slots outside ^[1-9][0-9]{0,5}$', () => {
    for (const slot of ['0', '0417', '1234567', '41a', '', ' 417', '417\n', 417]) {
      refuses(clientEventSchemasV2['link.close'], { slot }, 'slot');
    }
  });

  it('refuses a frame over 65,536 characters or empty, a sid of another length or not canonical, and extra members', () => {
    refuses(clientEventSchemasV2['link.send'], { slot: '417', data: 'A'.repeat(LINK_MAX_FRAME_CHARS + 4) }, 'data');
    refuses(clientEventSchemasV2['link.send'], { slot: '417', data: '' }, 'data');
    refuses(clientEventSchemasV2['link.send'], { slot: '417', data: 'AAAAA' }, 'data');
    refuses(clientEventSchemasV2['link.send'], { slot: '417', data: 'AAAA=' }, 'data');
    refuses(clientEventSchemasV2['link.open'], { username: 'alice', sid: sid().slice(1) }, 'sid');
    refuses(clientEventSchemasV2['link.open'], { username: 'alice', sid: `${sid()}A` }, 'sid');
    refuses(clientEventSchemasV2['link.open'], { username: 'alice', sid: `${sid().slice(0, 21)}B` }, 'sid');
    refuses(clientEventSchemasV2['link.open'], { username: 'Alice', sid: sid() }, 'username');
    refuses(clientEventSchemasV2['link.join'], { slot: '417', sid: sid(), code: 'K7QM9TZC' }, '');
  });

  it('pushes link.joined, link.data and link.closed to the other party', () => {
    accepts(serverEventSchemasV2['link.joined'], { slot: '417', sid: sid(), device: 1 });
    accepts(serverEventSchemasV2['link.data'], { slot: '417', data: b64(33) });
    for (const reason of ['closed', 'disconnected', 'expired']) accepts(serverEventSchemasV2['link.closed'], { slot: '417', reason });
    refuses(serverEventSchemasV2['link.closed'], { slot: '417', reason: 'gone' }, 'reason');
    refuses(serverEventSchemasV2['link.joined'], { slot: '417', sid: sid(), device: 0 }, 'device');
    refuses(serverEventSchemasV2['link.data'], { slot: '417', data: 'A'.repeat(LINK_MAX_FRAME_CHARS + 4) }, 'data');
  });
});

describe('server → client events of protocol 2 (§5.8)', () => {
  it('message names the sending and the receiving device', () => {
    const message = { id: serverId(), from: 'alice', to: 'bob', sentAt: 1795776497062, envelope: ratchetEnvelope(), fromDevice: 1, toDevice: 2 };
    accepts(serverEventSchemasV2.message, message);
    refuses(serverEventSchemasV2.message, without(message, 'fromDevice'), 'fromDevice');
    refuses(serverEventSchemasV2.message, { ...message, toDevice: 0 }, 'toDevice');
    // The same frame is a valid v1 message: v1 clients ignore the members v2 adds.
    expect(accepts(serverEventSchemas.message, message)).not.toHaveProperty('fromDevice');
  });

  it('receipt names the device whose copy was settled, and may say removed', () => {
    const receipt = { id: serverId(), clientId: clientId(), to: 'bob', deliveredAt: 1795776499000, toDevice: 2 };
    accepts(serverEventSchemasV2.receipt, { ...receipt, status: 'delivered' });
    accepts(serverEventSchemasV2.receipt, { ...receipt, status: 'unreadable', reason: 'decryption_failed' });
    accepts(serverEventSchemasV2.receipt, { ...receipt, status: 'removed' });
    refuses(serverEventSchemasV2.receipt, { ...receipt, status: 'unreadable' }, '');
    refuses(serverEventSchemasV2.receipt, { ...receipt, status: 'removed', reason: 'unsupported' }, '');
    refuses(serverEventSchemasV2.receipt, { ...receipt, status: 'read' }, 'status');
    refuses(serverEventSchemasV2.receipt, { ...without(receipt, 'toDevice'), status: 'delivered' }, 'toDevice');
  });

  it('devices.changed and device.removed carry the list version', () => {
    accepts(serverEventSchemasV2['devices.changed'], { username: 'alice', version: 5 });
    accepts(serverEventSchemasV2['device.removed'], { username: 'alice', device: 3, version: 5 });
    refuses(serverEventSchemasV2['devices.changed'], { username: 'alice', version: 2 ** 32 }, 'version');
    refuses(serverEventSchemasV2['device.removed'], { username: 'alice', version: 5 }, 'device');
  });

  it('protocol_error carries the v2 error with its details', () => {
    const error = { code: 'quota_exceeded', message: 'full', details: { to: 'bob', device: 2 } };
    expect(accepts(serverEventSchemasV2.protocol_error, { event: 'send', error }).error).toEqual(error);
    refuses(serverEventSchemasV2.protocol_error, { event: 'send', error: { code: 'devices_changed', message: 'x' } }, 'error.details');
  });
});

/** Compiles only when every v2 result the server writes is an input its client-side answer schema takes. */
type ResultsFitAnswersV2 = { [E in ClientEventNameV2]: ClientEventResultsV2[E] extends z.input<(typeof answerSchemasV2)[E]> ? true : false };
const resultsFitAnswersV2: ResultsFitAnswersV2 = {
  challenge: true,
  register: true,
  login: true,
  keys: true,
  users: true,
  send: true,
  ack: true,
  'prekeys.upload': true,
  'prekeys.count': true,
  'prekeys.bundle': true,
  'blob.create': true,
  'devices.list': true,
  'devices.publish': true,
  'link.open': true,
  'link.join': true,
  'link.send': true,
  'link.close': true,
  'mls.keypackages.upload': true,
  'mls.keypackages.count': true,
  'mls.keypackages.claim': true,
  'group.create': true,
  'group.commit': true,
  'group.send': true,
  'group.sync': true,
  'group.info': true,
};

describe('a connection’s protocol selects its schemas (§5.1, §5.9)', () => {
  it('v1 connections keep the v1 maps; v2 names every v1 event and the new ones, each with a payload and an answer schema', () => {
    expect(clientEventSchemasByProtocol[1]).toBe(clientEventSchemas);
    expect(answerSchemasByProtocol[1]).toBe(answerSchemas);
    expect(serverEventSchemasByProtocol[1]).toBe(serverEventSchemas);
    expect(serverErrorSchemaByProtocol[1]).toBe(serverErrorSchema);
    expect(Object.keys(clientEventSchemas).sort()).toEqual([...CLIENT_EVENTS].sort());
    expect(Object.keys(clientEventSchemasV2).sort()).toEqual([...CLIENT_EVENTS_V2].sort());
    expect(Object.keys(answerSchemasV2).sort()).toEqual([...CLIENT_EVENTS_V2].sort());
    expect(CLIENT_EVENTS_V2).toEqual(expect.arrayContaining([...CLIENT_EVENTS]));
    expect(Object.values(resultsFitAnswersV2).every((fits) => fits)).toBe(true);
  });

  it('the events v2 leaves alone are parsed by the same schemas in both', () => {
    for (const event of ['challenge', 'keys', 'users', 'ack', 'prekeys.upload', 'prekeys.count'] as const) {
      expect(clientEventSchemasV2[event], event).toBe(clientEventSchemas[event]);
    }
    for (const event of ['presence', 'prekeys.low'] as const) expect(serverEventSchemasV2[event], event).toBe(serverEventSchemas[event]);
  });

  it('device and link events exist on v2 connections only', () => {
    for (const event of ['devices.list', 'devices.publish', 'link.open', 'link.join', 'link.send', 'link.close']) {
      expect(isClientEventNameOf(1, event), event).toBe(false);
      expect(isClientEventNameOf(2, event), event).toBe(true);
    }
    for (const event of CLIENT_EVENTS) expect(isClientEventNameOf(1, event) && isClientEventNameOf(2, event), event).toBe(true);
    for (const event of ['message', 'devices.changed', '__proto__', 'toString', '']) expect(isClientEventNameOf(2, event), event).toBe(false);
  });

  it('before login, register and login say their protocol by their `protocol` member; other events read as v2', () => {
    const v1Login = { username: 'alice', signature: signature() };
    const v2Login = { username: 'alice', device: 3, protocol: 2, signature: signature() };
    expect(payloadProtocol(null, 'login', v1Login)).toBe(1);
    expect(payloadProtocol(null, 'login', v2Login)).toBe(2);
    expect(payloadProtocol(null, 'register', { protocol: 1 })).toBe(2);
    expect(payloadProtocol(null, 'login', null)).toBe(1);
    expect(payloadProtocol(null, 'login', 'protocol')).toBe(1);
    expect(payloadProtocol(null, 'link.open', {})).toBe(2);
    expect(payloadProtocol(null, 'challenge', null)).toBe(2);
    // Once logged in, the connection's protocol decides, whatever the payload says.
    expect(payloadProtocol(1, 'login', v2Login)).toBe(1);
    expect(payloadProtocol(2, 'send', {})).toBe(2);
    // Why the member decides: v1's login schema drops unknown members, so it would read a v2 login as a v1 one.
    accepts(clientEventSchemasByProtocol[1].login, v2Login);
    refuses(clientEventSchemasByProtocol[2].login, v1Login, 'device');
    refuses(clientEventSchemasByProtocol[2].register, { protocol: 1 }, 'username');
  });
});
