/**
 * What the protocol-2 server added to the ServerStore contract, against every store (memory, SQLite, PostgreSQL): a registration's
 * first device list stored with the user (and only when the name is created), a send's idempotency
 * records read per recipient address (design §5.5.1 step 4), and last-seen times kept for listed devices
 * only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceListInput, UserRecord } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, input, key, quota, sig } from './store-fixtures.js';

afterEach(cleanupStores);

const user = (username: string, x = 'x'): UserRecord => ({
  username,
  signingKey: { kty: 'OKP', crv: 'Ed25519', x: key(x) },
  encryptionKey: { kty: 'RSA', n: key('n', 342), e: 'AQAB' },
  signingKeyThumbprint: `t-${x}`,
  encryptionKeyThumbprint: 't-n',
  registeredAt: 1_000,
});

const firstList = (username: string, tag = 'v1'): DeviceListInput => ({
  username,
  version: 1,
  maxDeviceId: 1,
  list: `payload-${tag}`.padEnd(120, 'p'),
  signature: sig(`sig-${tag}`),
  devices: [{ device: 1, signingKey: key('x'), dhKey: key('ik1'), encryptionKeyN: key('n', 342), name: 'first', addedAt: 900 }],
});

describe.each(backends)('%s server store: protocol-2 registrations and reads', (_name, make) => {
  it("stores a registration's first list with the user, and not when the name was already taken", async () => {
    const store = await make();
    expect(await store.createUser(user('alice'), firstList('alice'))).toMatchObject({ created: true });
    expect(await store.getDeviceList('alice')).toMatchObject({ version: 1, list: firstList('alice').list, devices: [{ device: 1, lastSeenAt: null }] });
    expect(await store.createUser(user('alice', 'other'), firstList('alice', 'again'))).toMatchObject({ created: false, record: { signingKeyThumbprint: 't-x' } });
    expect((await store.getDeviceList('alice'))?.list).toBe(firstList('alice').list);
    expect(await store.createUser(user('bob'))).toMatchObject({ created: true });
    expect(await store.getDeviceList('bob')).toBeUndefined();
    await store.close();
  });

  it("reads a send's idempotency records per recipient address, in the order asked", async () => {
    const store = await make();
    const first = input({ clientId: 'one-send-client-id', recipientDevice: 2 });
    expect(await store.enqueueMany([first], quota)).toMatchObject({ status: 'accepted' });
    const addresses = [
      { recipient: 'bob', recipientDevice: 1 },
      { recipient: 'bob', recipientDevice: 2 },
    ];
    expect(await store.acceptedCopies('alice', 1, 'one-send-client-id', addresses)).toEqual([undefined, { id: first.id, sentAt: first.sentAt }]);
    // The key holds the sending address: another device of alice, or another id, has no record.
    expect(await store.acceptedCopies('alice', 2, 'one-send-client-id', addresses)).toEqual([undefined, undefined]);
    expect(await store.acceptedCopies('alice', 1, 'another-client-id1', addresses)).toEqual([undefined, undefined]);
    await store.close();
  });

  it('records when a listed device was seen, never going back, and ignores a device without a row', async () => {
    const store = await make();
    await store.createUser(user('carol'), firstList('carol'));
    await store.touchDevice('carol', 1, 5_000);
    await store.touchDevice('carol', 1, 4_000);
    await store.touchDevice('carol', 2, 6_000);
    await store.touchDevice('dave', 1, 6_000);
    expect((await store.getDeviceList('carol'))?.devices).toEqual([expect.objectContaining({ device: 1, lastSeenAt: 5_000 })]);
    expect(await store.getDeviceList('dave')).toBeUndefined();
    await store.close();
  });
});
