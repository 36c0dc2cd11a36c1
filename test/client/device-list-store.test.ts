/**
 * The newest verified device list per peer (docs/design/devices-v2.md §4.5, §10; src/client/peer-device-lists.ts),
 * kept with the peer's pin in peers.json. A list the server answers for a name is taken in only if it is
 * signed by the account key pinned for that name and may follow the list held: a rollback, a second list
 * of one version, a foreign signature or a reused device id is refused and changes nothing. An accepted
 * list deletes the sessions of the devices it dropped. Trusting other keys starts list history again;
 * two processes taking lists in at once never undo each other's.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { FilePeerKeyStore } from '../../src/client/node/file-stores.js';
import { PeerDeviceLists } from '../../src/client/peer-device-lists.js';
import { PeerDirectory } from '../../src/client/peer-directory.js';
import { toPinned } from '../../src/client/peer-keys.js';
import { EMPTY_SESSION, MemoryRatchetStore, type PeerSessionPickle } from '../../src/client/ratchet-store.js';
import type { PeerKeyStore } from '../../src/client/stores.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { encodeDeviceListPayload, type DeviceListFields } from '../../src/protocol/device-list-payload.js';
import { signDeviceList, type DeviceListWire } from '../../src/protocol/device-list-signature.js';
import type { UserKeys } from '../../src/protocol/events.js';
import { rsaPublicJwkFromModulus } from '../../src/protocol/rsa-modulus.js';
import { ACCOUNT_KEY, ACCOUNT_SECRET, aliceList, edPublic, rawPayload, secret, signedWire, testDevice, TEST_RSA_MODULI } from '../protocol/device-list-fixtures.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function peersPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-device-lists-'));
  dirs.push(dir);
  return join(dir, 'bob', 'peers.json');
}

/** Alice's directory keys for an account key (the fixtures' secret 01×32 unless another is given). */
const aliceKeys = (accountKey: Uint8Array = ACCOUNT_KEY): UserKeys => ({
  username: 'alice',
  signingKey: { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(accountKey) },
  encryptionKey: rsaPublicJwkFromModulus(TEST_RSA_MODULI[0]!) as UserKeys['encryptionKey'],
  registeredAt: 1,
});

/** Alice's list with these devices, signed by her account key (or `signer`). */
async function list(ids: readonly number[], fields: Partial<DeviceListFields> = {}, signer: Uint8Array = ACCOUNT_SECRET): Promise<DeviceListWire> {
  return signDeviceList(encodeDeviceListPayload(await aliceList(ids, fields)), ed25519SigningKeyFromSeed(signer));
}

const session = (n: number): PeerSessionPickle => ({ ...EMPTY_SESSION, delivered: [[`srv-${n}`, `msg-${n}`]] });

/** Bob's view of alice: her pin, sessions with her devices 1–3, and the device lists. */
async function bobKnowingAlice(pins: PeerKeyStore = new MemoryPeerKeyStore()) {
  await pins.putIfAbsent(await toPinned(aliceKeys(), 1));
  const ratchet = new MemoryRatchetStore();
  for (const device of [1, 2, 3]) await ratchet.saveSession({ user: 'alice', device }, session(device), 0);
  const sessionsOf = async () =>
    Object.fromEntries(await Promise.all([1, 2, 3].map(async (device) => [device, (await ratchet.loadSession({ user: 'alice', device }))?.value.delivered[0]?.[0] ?? null])));
  return { pins, ratchet, lists: new PeerDeviceLists(pins, ratchet), sessionsOf };
}

describe.each(['memory', 'file', 'indexeddb'] as const)('device lists kept with the pins (%s store)', (kind) => {
  const pinStore = async (): Promise<PeerKeyStore> =>
    kind === 'indexeddb' ? (await newIdbAccount()).peers() : kind === 'memory' ? new MemoryPeerKeyStore() : new FilePeerKeyStore(peersPath());

  it('accepts a first list and then newer ones, keeping the newest with the pin', async () => {
    const { pins, lists } = await bobKnowingAlice(await pinStore());
    expect(await lists.held('alice')).toBeNull();
    const first = await lists.accept('alice', await list([1, 2, 3]));
    expect(first).toMatchObject({ changed: true, removedDevices: [], identityKey1Changed: false });
    expect(first.list?.version).toBe(1);
    const v2 = await list([1, 2, 3, 4], { version: 2 });
    const second = await lists.accept('alice', v2);
    expect(second.list?.devices.map((d) => d.deviceId)).toEqual([1, 2, 3, 4]);
    expect((await pins.get('alice'))?.deviceList).toEqual(v2);
    expect((await lists.held('alice'))?.version).toBe(2);
    // The same list again: nothing to do.
    expect(await lists.accept('alice', v2)).toMatchObject({ changed: false, removedDevices: [] });
  });

  it('refuses a rollback, a second list of one version, a foreign signature, another name and a reused id, changing nothing', async () => {
    const { pins, lists, sessionsOf } = await bobKnowingAlice(await pinStore());
    await lists.accept('alice', await list([1, 2, 3], { version: 5 }));
    const pinBefore = await pins.get('alice');
    const sessionsBefore = await sessionsOf();
    const refusals: Array<[string, DeviceListWire, string]> = [
      ['rollback', await list([1, 2, 3], { version: 4 }), 'device_list_rollback'],
      ['equivocation', await list([1, 2, 3], { version: 5, issuedAt: 1_795_776_494_639 }), 'device_list_invalid'],
      ['re-signed by another key', signedWire(rawPayload(await aliceList([1, 2], { version: 6 })), secret(0x09)), 'device_list_invalid'],
      ['another key as account key', await list([1], { version: 6, accountKey: edPublic(0x09), devices: [await testDevice(1, { signingKey: edPublic(0x09) })] }, secret(0x09)), 'device_list_invalid'],
      ['another name', await signDeviceList(encodeDeviceListPayload({ ...(await aliceList([1], { version: 6 })), username: 'mallory' }), ed25519SigningKeyFromSeed(ACCOUNT_SECRET)), 'device_list_invalid'],
      // Ids are never given twice: the highest id given never goes down.
      ['maxDeviceId going down', await list([1, 2], { version: 6, maxDeviceId: 2 }), 'device_list_invalid'],
      ['a kept device with other keys', await list([1, 2, 3], { version: 6, devices: [await testDevice(1), await testDevice(2, { signingKey: edPublic(0x30) }), await testDevice(3)] }), 'device_list_invalid'],
      ['not a list at all', { list: 'AAAA', signature: 'A'.repeat(86) }, 'device_list_invalid'],
    ];
    for (const [what, wire, code] of refusals) {
      await expect(lists.accept('alice', wire), what).rejects.toMatchObject({ code });
      expect(await pins.get('alice'), what).toEqual(pinBefore);
      expect(await sessionsOf(), what).toEqual(sessionsBefore);
    }
    // A reused id after a removal: device 3 leaves in version 6, a new device 3 comes back in version 7.
    await lists.accept('alice', await list([1, 2], { version: 6, maxDeviceId: 3 }));
    const reused = await list([1, 2, 3], { version: 7, devices: [await testDevice(1), await testDevice(2), await testDevice(3, { name: 'not the old one', addedAt: 1_795_999_999_999 })] });
    await expect(lists.accept('alice', reused)).rejects.toMatchObject({ code: 'device_list_invalid' });
    expect((await lists.held('alice'))?.version).toBe(6);
  });

  it('no list from the server is device 1 alone before any list was seen, and a rollback after', async () => {
    const { pins, lists } = await bobKnowingAlice(await pinStore());
    expect(await lists.accept('alice', null)).toMatchObject({ list: null, changed: false });
    expect((await pins.get('alice'))?.deviceList).toBeUndefined();
    await lists.accept('alice', await list([1, 2]));
    await expect(lists.accept('alice', null)).rejects.toMatchObject({ code: 'device_list_rollback' });
    expect((await lists.held('alice'))?.version).toBe(1);
  });

  it("deletes the sessions of devices a new list drops, and device 1's when it replaced its identity key", async () => {
    const { lists, sessionsOf } = await bobKnowingAlice(await pinStore());
    await lists.accept('alice', await list([1, 2, 3]));
    const dropped = await lists.accept('alice', await list([1, 2], { version: 2, maxDeviceId: 3 }));
    expect(dropped).toMatchObject({ changed: true, removedDevices: [3], identityKey1Changed: false });
    expect(await sessionsOf()).toEqual({ 1: 'srv-1', 2: 'srv-2', 3: null });
    // The primary lost its ratchet store and lists a new IK_1 (it cannot take a new id).
    const newIdentity = await list([1, 2], { version: 3, maxDeviceId: 3, devices: [await testDevice(1, { identityKey: (await testDevice(5)).identityKey }), await testDevice(2)] });
    expect(await lists.accept('alice', newIdentity)).toMatchObject({ changed: true, removedDevices: [], identityKey1Changed: true });
    expect(await sessionsOf()).toEqual({ 1: null, 2: 'srv-2', 3: null });
  });

  it('trusting new keys starts list history again from them; trusting the same keys keeps it', async () => {
    const { pins, lists } = await bobKnowingAlice(await pinStore());
    const directory = new PeerDirectory({ call: () => Promise.reject(new Error('no server in this test')) } as never, pins);
    await lists.accept('alice', await list([1, 2], { version: 7 }));
    await directory.trust('alice', aliceKeys(), true);
    expect((await lists.held('alice'))?.version).toBe(7);
    expect((await pins.get('alice'))?.verified).toBe(true);

    // Alice re-registered with a new account key (secret 21×32): her old list goes with the old pin.
    const newAccount = secret(0x21);
    await directory.trust('alice', aliceKeys(edPublic(0x21)), false);
    expect((await pins.get('alice'))?.deviceList).toBeUndefined();
    const fresh = await list([1], { version: 1, accountKey: edPublic(0x21), devices: [await testDevice(1, { signingKey: edPublic(0x21) })] }, newAccount);
    expect(await lists.accept('alice', fresh)).toMatchObject({ changed: true });
    // And a list of the old key, however new, is refused now.
    await expect(lists.accept('alice', await list([1, 2], { version: 8 }))).rejects.toMatchObject({ code: 'device_list_invalid' });
  });
});

describe('device lists taken in by two processes at once (one peers.json)', () => {
  /** Two processes' views of one peers.json; the first one's session deletions wait until released. */
  async function twoProcesses() {
    const path = peersPath();
    const first = new FilePeerKeyStore(path);
    await first.putIfAbsent(await toPinned(aliceKeys(), 1));
    let release!: () => void;
    let reached!: () => void;
    const held = { reached: new Promise<void>((r) => (reached = r)), released: new Promise<void>((r) => (release = r)) };
    const deletedBy = { first: [] as number[][], second: [] as number[][] };
    const firstLists = new PeerDeviceLists(first, {
      deleteSessions: async (_user, devices) => {
        deletedBy.first.push([...devices]);
        reached();
        await held.released;
      },
    });
    const second = new FilePeerKeyStore(path);
    let entered!: () => void;
    const secondEntered = new Promise<void>((r) => (entered = r));
    const secondPins: PeerKeyStore = Object.assign(Object.create(second) as FilePeerKeyStore, {
      update: ((username, change) => {
        entered();
        return second.update(username, change);
      }) as PeerKeyStore['update'],
    });
    const secondLists = new PeerDeviceLists(secondPins, { deleteSessions: async (_user, devices) => void deletedBy.second.push([...devices]) });
    await new PeerDeviceLists(first, null).accept('alice', await list([1, 2, 3]));
    return { path, firstLists, secondLists, held, release, secondEntered, deletedBy };
  }

  const storedVersion = (path: string) => {
    const file = JSON.parse(readFileSync(path, 'utf8')) as { peers: Record<string, { deviceList?: DeviceListWire }> };
    return file.peers.alice?.deviceList;
  };

  it('the newer list wins when the older one is being stored: the second judges its list against what the first stored', async () => {
    const { path, firstLists, secondLists, held, release, secondEntered, deletedBy } = await twoProcesses();
    const v2 = await list([1, 2], { version: 2, maxDeviceId: 3 });
    const v3 = await list([1], { version: 3, maxDeviceId: 3 });
    const storingV2 = firstLists.accept('alice', v2);
    await held.reached; // the first process is inside its update, between its check and its write
    const storingV3 = secondLists.accept('alice', v3);
    await secondEntered;
    release();
    expect(await storingV2).toMatchObject({ changed: true, removedDevices: [3] });
    // The second read the list the first stored (version 2): only device 2 was left to drop.
    expect(await storingV3).toMatchObject({ changed: true, removedDevices: [2] });
    expect(deletedBy).toEqual({ first: [[3]], second: [[2]] });
    expect(storedVersion(path)).toEqual(v3);
  });

  it('an older list arriving while a newer one is being stored is a rollback and changes nothing', async () => {
    const { path, firstLists, secondLists, held, release, secondEntered, deletedBy } = await twoProcesses();
    const v2 = await list([1, 2], { version: 2, maxDeviceId: 3 });
    const v3 = await list([1], { version: 3, maxDeviceId: 3 });
    const storingV3 = firstLists.accept('alice', v3);
    await held.reached;
    const storingV2 = secondLists.accept('alice', v2);
    await secondEntered;
    release();
    expect(await storingV3).toMatchObject({ changed: true, removedDevices: [2, 3] });
    await expect(storingV2).rejects.toMatchObject({ code: 'device_list_rollback' });
    expect(deletedBy).toEqual({ first: [[2, 3]], second: [] });
    expect(storedVersion(path)).toEqual(v3);
  });
});
