/**
 * The group and KeyPackage events of docs/design/groups-mls.md §5: what a payload may hold, and what a
 * client accepts from the server. MLS bytes are opaque here (sizes only).
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { clientEventSchemasV2 } from '../../src/protocol/client-event-schemas.js';
import { CLIENT_EVENTS_V2 } from '../../src/protocol/events-v2.js';
import { MAX_GROUP_COMMIT_BYTES, MAX_GROUP_MEMBERS, MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGES_PER_UPLOAD } from '../../src/protocol/limits.js';
import { answerSchemasV2, serverErrorV2Schema, serverEventSchemasV2 } from '../../src/protocol/server-event-schemas.js';

const bytes = (n: number, fill = 7) => base64urlEncode(new Uint8Array(n).fill(fill));
const groupId = bytes(32);
const kp = bytes(2689);

function accepts<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  return parsed.data as z.output<T>;
}
function refuses(schema: z.ZodType, value: unknown, path: string): void {
  const parsed = schema.safeParse(value);
  expect(parsed.success).toBe(false);
  expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(path);
}

describe('group and KeyPackage payloads', () => {
  it('are events of protocol 2', () => {
    for (const e of ['mls.keypackages.upload', 'mls.keypackages.count', 'mls.keypackages.claim', 'group.create', 'group.commit', 'group.send', 'group.sync', 'group.info']) {
      expect(CLIENT_EVENTS_V2).toContain(e);
    }
  });

  it('an upload holds 1 … 40 one-time packages of at most 4 KiB, or a last-resort one alone', () => {
    const upload = clientEventSchemasV2['mls.keypackages.upload'];
    accepts(upload, { packages: [kp] });
    accepts(upload, { packages: [], lastResort: kp });
    refuses(upload, { packages: [] }, '');
    refuses(upload, { packages: Array(MAX_KEY_PACKAGES_PER_UPLOAD + 1).fill(kp) }, 'packages');
    refuses(upload, { packages: [bytes(MAX_KEY_PACKAGE_BYTES + 1)] }, 'packages.0');
    refuses(upload, { packages: ['a'] }, 'packages.0');
    refuses(upload, { packages: [kp], extra: 1 }, '');
  });

  it('a claim names a user and the list version the claimer holds (null: no list)', () => {
    accepts(clientEventSchemasV2['mls.keypackages.claim'], { user: 'bob', listVersion: 3 });
    accepts(clientEventSchemasV2['mls.keypackages.claim'], { user: 'bob', listVersion: null });
    refuses(clientEventSchemasV2['mls.keypackages.claim'], { user: 'bob' }, 'listVersion');
  });

  it('a group id is exactly 32 bytes', () => {
    accepts(clientEventSchemasV2['group.create'], { groupId });
    refuses(clientEventSchemasV2['group.create'], { groupId: bytes(31) }, 'groupId');
    refuses(clientEventSchemasV2['group.create'], { groupId: groupId.slice(0, 42) + '_' }, 'groupId');
  });

  it('a commit brings a Welcome exactly when it adds, and names no address twice', () => {
    const commit = clientEventSchemasV2['group.commit'];
    const base = { groupId, epoch: 0, commit: bytes(100), add: [], remove: [] };
    accepts(commit, base);
    accepts(commit, { ...base, welcome: bytes(100), add: [{ user: 'bob', device: 2 }] });
    refuses(commit, { ...base, add: [{ user: 'bob', device: 2 }] }, 'welcome');
    refuses(commit, { ...base, welcome: bytes(100) }, 'welcome');
    refuses(commit, { ...base, remove: [{ user: 'bob', device: 2 }, { user: 'bob', device: 2 }] }, 'remove.1');
    refuses(commit, { ...base, welcome: bytes(10), add: [{ user: 'bob', device: 2 }], remove: [{ user: 'bob', device: 2 }] }, 'add.0');
    refuses(commit, { ...base, commit: bytes(MAX_GROUP_COMMIT_BYTES + 1) }, 'commit');
    refuses(commit, { ...base, epoch: -1 }, 'epoch');
    refuses(commit, { ...base, remove: Array.from({ length: MAX_GROUP_MEMBERS + 1 }, (_, i) => ({ user: 'bob', device: i + 1 })) }, 'remove');
  });
});

describe('group answers and pushes a client accepts', () => {
  const from = { user: 'alice', device: 1 };
  it('group_epoch_stale carries the current epoch', () => {
    expect(accepts(serverErrorV2Schema, { code: 'group_epoch_stale', message: 'x', details: { epoch: 4 } })).toMatchObject({ details: { epoch: 4 } });
    refuses(serverErrorV2Schema, { code: 'group_epoch_stale', message: 'x' }, 'details');
  });

  it('a claim answers one package per device, no device twice', () => {
    const answer = answerSchemasV2['mls.keypackages.claim'];
    accepts(answer, { listVersion: 2, packages: [{ device: 1, keyPackage: kp, lastResort: false }, { device: 2, keyPackage: kp, lastResort: true }] });
    refuses(answer, { listVersion: 2, packages: [{ device: 1, keyPackage: kp, lastResort: false }, { device: 1, keyPackage: kp, lastResort: true }] }, 'packages');
  });

  it('group.message and group.welcome carry the queue id that ack settles', () => {
    const entry = { groupId, seq: 1, epoch: 0, kind: 'application', message: bytes(50), from, sentAt: 1 };
    accepts(serverEventSchemasV2['group.message'], { ...entry, id: bytes(16) });
    refuses(serverEventSchemasV2['group.message'], entry, 'id');
    accepts(answerSchemasV2['group.sync'], { messages: [entry], epoch: 0 });
    accepts(serverEventSchemasV2['group.welcome'], { id: bytes(16), groupId, seq: 1, welcome: bytes(90), from, sentAt: 1 });
    accepts(serverEventSchemasV2['mls.keypackages.low'], { oneTime: 3 });
  });
});
