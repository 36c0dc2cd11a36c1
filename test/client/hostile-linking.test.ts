/**
 * Linking a device through a server that lies (docs/design/devices-v2.md §6.5–6.7, §12; PROTOCOL.md §18).
 * The server relays every link frame, so it may put itself at either end of a link slot, wire one
 * account's primary to another account's new device, or replay an earlier run. Without the code it gets
 * one guess per run: confirmation fails (Tb at the primary, Ta at the new device), the side that notices
 * fails with `link_failed` at once (no hang), and nothing is published. Once a device is linked, its
 * account's keys and newest list come from its primary, so the server can neither roll its list back nor
 * hand it other account keys.
 *
 * Victims talk to `servers.hostile`; the truth is the real server's store (`realList`).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { requestDeviceLink } from '../../src/client/device-link-request.js';
import { adoptProvisioning, ed25519Public, rsaPublic } from '../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { base64urlDecode, base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, generateUserKeyPairs, rsaPublicOf } from '../../src/crypto/keys.js';
import { defaultRandom, type RandomSource } from '../../src/crypto/random.js';
import { parseLinkCode } from '../../src/e2ee/link/link-code.js';
import { decodeLinkFrame } from '../../src/e2ee/link/link-frames.js';
import { encodeLinkProvisioning } from '../../src/e2ee/link/link-messages.js';
import type { DeviceListWire } from '../../src/protocol/device-list-wire.js';
import type { LinkJoinPayload, LinkOpenPayload, LinkSendPayload } from '../../src/protocol/link-schemas.js';
import { entryOf, newDevice as newTestDevice, TestAccount } from '../helpers/devices.js';
import { FORWARD, type HostileConnection } from '../helpers/hostile-server.js';
import { fakeNewDevice, fakePrimary, type FakeNewDevice } from '../helpers/link-puppets.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';

/** A secret the server guesses; a device draws its own at random (asserted to differ in each test). */
const GUESS = 'K7QM9TZC';
const named = (payload: unknown) => (payload as { username?: string }).username;
const decode = (data: string) => base64urlDecode(data);
/** Who a connection is, whatever protocol its hook was typed for. */
type Party = Pick<HostileConnection, 'username' | 'device'>;

describe('linking a device through a server that lies', () => {
  const servers = useHostileServer();
  const { track } = servers;
  const closers: Array<() => Promise<void> | void> = [];
  const hooks: Array<() => void> = [];
  afterEach(() => {
    for (const remove of hooks.splice(0)) remove();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  /** The account's list as the real server holds it: what was published, whatever the liar tells anyone. */
  async function realList(user: string) {
    const stored = await servers.srv.store.getDeviceList(user);
    return stored && { version: stored.version, devices: stored.devices.map((d) => d.device) };
  }
  /** `devices.publish` requests that reached the liar from `user` (all of them go to the real server). */
  const publishesBy = (user: string) => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'devices.publish' && f.user === user).length;
  /** The frames one party of slot `slot` sent through the liar, oldest first (the primary is logged in; the new device is not). */
  const sentOn = (slot: string, by: 'primary' | 'new device') =>
    servers.hostile.frames.flatMap((f) =>
      f.kind === 'request' && f.event === 'link.send' && (f.payload as LinkSendPayload).slot === slot && (f.user !== undefined) === (by === 'primary') ? [(f.payload as LinkSendPayload).data] : [],
    );

  /**
   * What the liar learns from answering `link.open`: which connection opened which slot, with its sid.
   * Only the liar can push to a connection that is not logged in, so it keeps them.
   */
  function watchLinkOpens(): Map<string, { conn: HostileConnection; sid: string }> {
    const opened = new Map<string, { conn: HostileConnection; sid: string }>();
    hooks.push(
      servers.hostile.onAnswer('link.open', (answer, payload, conn) => {
        if (answer.ok) opened.set(answer.slot, { conn, sid: (payload as LinkOpenPayload).sid });
        return answer;
      }),
    );
    return opened;
  }

  /** A new device asking to join `username` through the liar (its link request open). */
  async function newDevice(username: string, options: { random?: RandomSource } = {}) {
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const peers = new MemoryPeerKeyStore();
    const pending = await requestDeviceLink({
      url: servers.hostile.url,
      username,
      name: 'laptop',
      keys,
      ratchet,
      socketOptions: { transports: ['websocket'] },
      ...options,
    });
    closers.push(() => pending.cancel());
    // A failed run must not surface as an unhandled rejection before the test looks at it.
    pending.done.catch(() => undefined);
    const code = parseLinkCode(pending.code);
    return { keys, ratchet, peers, pending, code };
  }

  /** The linked device as a ChatClient through the liar, from what its provisioning said. */
  async function connectLinked(device: Awaited<ReturnType<typeof newDevice>>) {
    const provisioned = await device.pending.done;
    await adoptProvisioning(device.peers, provisioned);
    const client = await ChatClient.connect({
      url: servers.hostile.url,
      identity: { username: provisioned.username, device: provisioned.device, keys: device.keys, account: provisioned.account },
      peers: device.peers,
      messages: new MemoryMessageStore(),
      ratchet: device.ratchet,
      socketOptions: { transports: ['websocket'] },
    });
    closers.push(() => client.close());
    return { client, provisioned, peers: device.peers };
  }

  /** `user`'s device 2 (the linked laptop) sent this many `send` requests through the liar. */
  const sendsFromLaptop = (user: string) => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === user && f.device === 2).length;

  /**
   * Alice (through the liar) links a laptop (through the liar) honestly: the list is at version 2 and the
   * laptop holds its provisioning, not connected yet. `version1` is the list from before, as alice signed it.
   */
  async function linkThroughTheLiar(username: string) {
    const alice = track(await connectTestClient(servers.hostile.url, username));
    const before = (await servers.srv.store.getDeviceList(username))!;
    const laptop = await newDevice(username);
    await alice.client.approveDevice(laptop.pending.code);
    expect(await realList(username)).toEqual({ version: 2, devices: [1, 2] });
    const version1: DeviceListWire = { list: before.list, signature: before.signature };
    return { alice, laptop, version1 };
  }

  it('a server that substitutes its own device in the link slot fails confirmation and nothing is published', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'hk-alice1'));
    const laptop = await newDevice('hk-alice1');
    expect(laptop.code.secret).not.toBe(GUESS);
    const before = await realList('hk-alice1');
    expect(before).toEqual({ version: 1, devices: [1] });
    const publishes = publishesBy('hk-alice1');

    // The liar answers the primary's join itself and runs its own device at the other end, with a guess.
    let puppet: FakeNewDevice | undefined;
    const fromPuppet: string[] = [];
    const isAlice = (conn: HostileConnection) => conn.username === 'hk-alice1';
    hooks.push(
      servers.hostile.onRequest('link.join', async (payload, conn) => {
        if (!isAlice(conn)) return FORWARD;
        const { slot, sid } = payload as LinkJoinPayload;
        puppet = await fakeNewDevice('hk-alice1', { slot, secret: GUESS }, decode(sid));
        return { ok: true, slot, sid: base64urlEncode(puppet.sid) };
      }),
      servers.hostile.onRequest('link.send', (payload, conn) => {
        if (!isAlice(conn) || !puppet) return FORWARD;
        const { slot, data } = payload as LinkSendPayload;
        for (const frame of puppet.receive(decode(data))) {
          fromPuppet.push(base64urlEncode(frame));
          conn.push('link.data', { slot, data: base64urlEncode(frame) });
        }
        return { ok: true };
      }),
      servers.hostile.onRequest('link.close', (_payload, conn) => (isAlice(conn) ? { ok: true } : FORWARD)),
    );

    const offers: unknown[] = [];
    await expect(alice.client.approveDevice(laptop.pending.code, { onOffer: (o) => offers.push(o) })).rejects.toMatchObject({
      code: 'link_failed',
      message: expect.stringContaining('the code did not match'),
    });
    // The run reached Tb (the puppet's cpace-b came back, offer and all), and the offer was never opened or shown.
    expect(fromPuppet.map((d) => decodeLinkFrame(decode(d)).type)).toEqual(['cpace-b']);
    expect(offers).toEqual([]);
    expect(publishesBy('hk-alice1')).toBe(publishes);
    expect(await realList('hk-alice1')).toEqual(before);

    // The real laptop was never joined; it gives up like any unused code.
    laptop.pending.cancel();
    await expect(laptop.pending.done).rejects.toMatchObject({ code: 'link_failed' });
  });

  it('a provisioning the server never delivers leaves no device listed', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'hk-alice7'));
    const laptop = await newDevice('hk-alice7');
    // The liar takes the primary's confirm-a (the provisioning) and never relays it.
    const swallowed: string[] = [];
    hooks.push(
      servers.hostile.onRequest('link.send', (payload, conn) => {
        if (conn.username !== 'hk-alice7') return FORWARD;
        const { data } = payload as LinkSendPayload;
        const type = decodeLinkFrame(decode(data)).type;
        if (type !== 'confirm-a' && type !== 'more') return FORWARD;
        swallowed.push(type);
        return { ok: true };
      }),
    );
    const approval = alice.client.approveDevice(laptop.pending.code);
    approval.catch(() => undefined);
    await waitUntil(() => (swallowed.length > 0 ? true : undefined), 5000, 'the provisioning to be swallowed');
    // The list naming the laptop was published before the provisioning went out (a bundle exists from then on).
    expect(await realList('hk-alice7')).toEqual({ version: 2, devices: [1, 2] });
    // The laptop, never provisioned, goes away: the primary hears the slot close without the laptop's word.
    laptop.pending.cancel();
    await expect(approval).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('did not confirm') });
    await expect(laptop.pending.done).rejects.toMatchObject({ code: 'link_failed' });
    expect(await realList('hk-alice7')).toEqual({ version: 3, devices: [1] });
  });

  it('a server posing as the primary to the new device is refused', async () => {
    track(await connectTestClient(servers.srv.url, 'hk-alice2'));
    const opened = watchLinkOpens();
    const laptop = await newDevice('hk-alice2');
    expect(laptop.code.secret).not.toBe(GUESS);
    const { slot } = laptop.code;
    const end = opened.get(slot)!;
    const before = await realList('hk-alice2');

    // What the liar would have the laptop adopt: its own account keys and a list they sign.
    const liars = await TestAccount.create('hk-alice2');
    liars.add(await newTestDevice(2, 'laptop'));
    const provisioning = encodeLinkProvisioning({
      v: 2,
      username: 'hk-alice2',
      device: 2,
      approvedBy: 1,
      account: { signingKey: ed25519Public(ed25519PublicOf(liars.userKeys.signing)), encryptionKey: rsaPublic(rsaPublicOf(liars.userKeys.encryption)) },
      deviceList: liars.list(),
      pins: [],
      history: { count: 0 },
    });
    const fake = fakePrimary('hk-alice2', { slot, secret: GUESS }, decode(end.sid));
    const learned: Array<{ confirmedTb: boolean; openedOffer: boolean }> = [];
    // The laptop's frames go to the liar alone (the real slot was never joined), which answers with confirm-a.
    hooks.push(
      servers.hostile.onRequest('link.send', (payload, conn) => {
        if (conn.id !== end.conn.id) return FORWARD;
        const { data } = payload as LinkSendPayload;
        if (decodeLinkFrame(decode(data)).type === 'cpace-b') {
          const { frames, ...what } = fake.answer(decode(data), provisioning);
          learned.push(what);
          for (const frame of frames) conn.push('link.data', { slot, data: base64urlEncode(frame) });
        }
        return { ok: true };
      }),
    );
    end.conn.push('link.joined', { slot, sid: base64urlEncode(fake.sid), device: 1 });
    end.conn.push('link.data', { slot, data: base64urlEncode(fake.cpaceA) });

    // Ta is checked before anything is opened: no provisioning comes out of the run.
    await expect(laptop.pending.done).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('could not confirm the key') });
    // The laptop sent its offer before it checked the primary (by design): the guess neither confirmed its key nor opened it.
    expect(learned).toEqual([{ confirmedTb: false, openedOffer: false }]);
    expect(await realList('hk-alice2')).toEqual(before);
  });

  it("a code relayed into another account's run fails", async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'hk-alice3'));
    track(await connectTestClient(servers.srv.url, 'hk-bob3'));
    const opened = watchLinkOpens();
    // Bob's laptop prints a code; alice's primary is handed that very code (same slot, same secret).
    const bobsLaptop = await newDevice('hk-bob3');
    const { slot } = bobsLaptop.code;
    const laptopEnd = opened.get(slot)!;
    const before = { alice: await realList('hk-alice3'), bob: await realList('hk-bob3') };

    // The real server would refuse alice's join (the slot is bob's): the liar relays between the two itself.
    let primaryEnd: HostileConnection | undefined;
    const otherEnd = (conn: HostileConnection) => (conn.id === primaryEnd?.id ? laptopEnd.conn : conn.id === laptopEnd.conn.id ? primaryEnd : undefined);
    hooks.push(
      servers.hostile.onRequest('link.join', (payload, conn) => {
        if (conn.username !== 'hk-alice3') return FORWARD;
        primaryEnd = conn;
        laptopEnd.conn.push('link.joined', { slot, sid: (payload as LinkJoinPayload).sid, device: 1 });
        return { ok: true, slot, sid: laptopEnd.sid };
      }),
      servers.hostile.onRequest('link.send', (payload, conn) => {
        const other = otherEnd(conn);
        if (!other) return FORWARD;
        other.push('link.data', payload);
        return { ok: true };
      }),
      servers.hostile.onRequest('link.close', (_payload, conn) => {
        const other = otherEnd(conn);
        if (!other) return FORWARD;
        other.push('link.closed', { slot, reason: 'closed' });
        return { ok: true };
      }),
    );

    // CI names the account: the same code under "hk-alice3" and under "hk-bob3" gives two generators.
    await expect(alice.client.approveDevice(bobsLaptop.pending.code)).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('the code did not match') });
    await expect(bobsLaptop.pending.done).rejects.toMatchObject({ code: 'link_failed' });
    // Both ran CPace: alice's cpace-a reached the laptop and its cpace-b came back.
    expect(sentOn(slot, 'primary').map((d) => decodeLinkFrame(decode(d)).type)).toEqual(['cpace-a']);
    expect(sentOn(slot, 'new device').map((d) => decodeLinkFrame(decode(d)).type)).toEqual(['cpace-b']);
    expect(publishesBy('hk-alice3')).toBe(0);
    expect({ alice: await realList('hk-alice3'), bob: await realList('hk-bob3') }).toEqual(before);
  });

  it('frames replayed from an earlier link fail', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'hk-alice4'));
    const opened = watchLinkOpens();
    // Every laptop here draws the same secret: the runs differ in the slot (run 3: not even that), in the
    // sids and in each party's fresh CPace share. The first two are open at once, so their slots differ:
    // the primary would refuse a code it tried before without a run.
    const secretBytes = randomBytes(5);
    const sameSecret: RandomSource = (n) => (n === secretBytes.length ? Uint8Array.from(secretBytes) : defaultRandom(n));
    const first = await newDevice('hk-alice4', { random: sameSecret });
    const second = await newDevice('hk-alice4', { random: sameSecret });
    expect(second.code.secret).toBe(first.code.secret);

    // Run 1, honest, recorded by the liar.
    await alice.client.approveDevice(first.pending.code);
    await first.pending.done;
    const slot1 = first.code.slot;
    const sidA1 = (servers.hostile.answersTo('link.join', (p) => (p as LinkJoinPayload).slot === slot1)[0]!.payload as LinkJoinPayload).sid;
    const sidB1 = opened.get(slot1)!.sid;
    const primaryFrames = sentOn(slot1, 'primary');
    const laptopFrames = sentOn(slot1, 'new device');
    expect(primaryFrames.map((d) => decodeLinkFrame(decode(d)).type)).toEqual(['cpace-a', 'confirm-a']);
    expect(laptopFrames.map((d) => decodeLinkFrame(decode(d)).type)).toEqual(['cpace-b']);
    const linked = await realList('hk-alice4');
    expect(linked).toEqual({ version: 2, devices: [1, 2] });
    const publishes = publishesBy('hk-alice4');

    // Run 2, toward the primary: its join answered with run 1's sidB, the second laptop's cpace-b replaced by run 1's.
    const secondEnd = opened.get(second.code.slot)!;
    let replayed = 0;
    const run2 = [
      servers.hostile.onAnswer('link.join', (answer, _payload, conn) => (answer.ok && conn.username === 'hk-alice4' ? { ...answer, sid: sidB1 } : answer)),
      servers.hostile.onRequest('link.send', (payload, conn) => {
        if (conn.id !== secondEnd.conn.id) return FORWARD;
        const data = laptopFrames[replayed++] ?? (payload as LinkSendPayload).data;
        return conn.ask('link.send', { slot: second.code.slot, data });
      }),
    ];
    await expect(alice.client.approveDevice(second.pending.code)).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('the code did not match') });
    await expect(second.pending.done).rejects.toMatchObject({ code: 'link_failed' });
    expect(replayed).toBe(1);
    for (const remove of run2) remove();

    // Run 3, toward a new device: the liar numbers its slot as run 1's, so its code is run 1's exactly, and
    // replays run 1's primary whole (its sid, cpace-a, confirm-a); no primary takes part.
    let thirdEnd: HostileConnection | undefined;
    hooks.push(
      servers.hostile.onAnswer('link.open', (answer, _payload, conn) => {
        if (!answer.ok) return answer;
        thirdEnd = conn;
        return { ...answer, slot: slot1 };
      }),
      servers.hostile.onRequest('link.send', (_payload, conn) => {
        if (conn.id !== thirdEnd?.id) return FORWARD;
        for (const data of primaryFrames.slice(1)) conn.push('link.data', { slot: slot1, data });
        return { ok: true };
      }),
    );
    const third = await newDevice('hk-alice4', { random: sameSecret });
    expect(third.pending.code).toBe(first.pending.code);
    thirdEnd!.push('link.joined', { slot: slot1, sid: sidA1, device: 1 });
    thirdEnd!.push('link.data', { slot: slot1, data: primaryFrames[0] });
    await expect(third.pending.done).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('could not confirm the key') });

    expect(publishesBy('hk-alice4')).toBe(publishes);
    expect(await realList('hk-alice4')).toEqual(linked);
  });

  it("a server that rolls the new device's list back after linking is refused", async () => {
    const bob = track(await connectTestClient(servers.srv.url, 'hk-bob5'));
    const { laptop, version1 } = await linkThroughTheLiar('hk-alice5');
    // From the laptop's first login on, the liar answers its questions about its own account with version 1.
    const isLaptop = (conn: Party) => conn.username === 'hk-alice5' && conn.device === 2;
    hooks.push(
      servers.hostile.onAnswer(
        'devices.list',
        (answer, payload, conn) => (answer.ok && isLaptop(conn) && named(payload) === 'hk-alice5' ? { ...answer, deviceList: version1 } : answer),
        { protocol: 2 },
      ),
    );
    const linked = await connectLinked(laptop);

    // The provisioning's list (version 2) is held: version 1 is a rollback, for the list and for a send.
    await expect(linked.client.devices()).rejects.toMatchObject({ code: 'device_list_rollback' });
    await expect(linked.client.send('hk-bob5', 'never sent')).rejects.toMatchObject({ code: 'device_list_rollback' });
    expect(sendsFromLaptop('hk-alice5')).toBe(0);
    expect(bob.received).toEqual([]);
    expect(await realList('hk-alice5')).toEqual({ version: 2, devices: [1, 2] });
  });

  it("a server that gives the new device other account keys than the primary's is refused", async () => {
    const bob = track(await connectTestClient(servers.srv.url, 'hk-bob6'));
    const { alice, laptop } = await linkThroughTheLiar('hk-alice6');
    const provisioned = await laptop.pending.done;
    expect(provisioned.account.signingKey.x).toBe(alice.identity.keys.signing.x);

    // The liar's own account under alice's name: its keys in the directory, and a list they sign that
    // keeps the laptop and adds the liar's device (which would get a copy of all the laptop sends).
    const liars = await TestAccount.create('hk-alice6', await keysFor(true));
    const laptopEntry = provisioned.list.devices.find((d) => d.deviceId === 2)!;
    const forged = liars.list({ version: 3, maxDeviceId: 3, devices: [entryOf(liars.device(1)), laptopEntry, entryOf(await newTestDevice(3, 'server'))] });
    const isLaptop = (conn: Party) => conn.username === 'hk-alice6' && conn.device === 2;
    const aboutAlice = (payload: unknown, conn: Party) => isLaptop(conn) && named(payload) === 'hk-alice6';
    hooks.push(
      servers.hostile.onAnswer('keys', (answer, payload, conn) =>
        answer.ok && aboutAlice(payload, conn)
          ? { ...answer, signingKey: ed25519Public(ed25519PublicOf(liars.userKeys.signing)), encryptionKey: rsaPublic(rsaPublicOf(liars.userKeys.encryption)) }
          : answer,
      ),
    );
    const removeForgedList = servers.hostile.onAnswer('devices.list', (answer, payload, conn) => (answer.ok && aboutAlice(payload, conn) ? { ...answer, deviceList: forged } : answer), {
      protocol: 2,
    });
    hooks.push(removeForgedList);
    const linked = await connectLinked(laptop);
    const pin = await linked.peers.get('hk-alice6');
    expect(pin?.signingKey.x).toBe(alice.identity.keys.signing.x);

    // The directory's keys against the provisioned pin: refused, and the pin stays the primary's word.
    await expect(linked.client.peerKeys('hk-alice6')).rejects.toMatchObject({ code: 'peer_key_changed' });
    // The list the liar's key signs does not verify under the account key the provisioning gave: nothing is sent with it.
    await expect(linked.client.devices()).rejects.toMatchObject({ code: 'device_list_invalid' });
    await expect(linked.client.send('hk-bob6', 'never sent')).rejects.toMatchObject({ code: 'device_list_invalid' });
    expect(sendsFromLaptop('hk-alice6')).toBe(0);

    // With the true list again (the keys lie goes on), a send goes to alice's real devices: sending never
    // asks the directory for the account's own keys.
    removeForgedList();
    await linked.client.send('hk-bob6', 'from the laptop');
    await bob.waitFor(1);
    expect(bob.received.map((m) => [m.from, m.body])).toEqual([['hk-alice6', 'from the laptop']]);
    await waitUntil(() => alice.received.find((m) => m.body === 'from the laptop'), 5000, "the laptop's copy on the primary");
    // The one question about alice's keys was peerKeys' above.
    const asked = servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'keys' && aboutAlice(f.payload, { username: f.user, device: f.device }));
    expect(asked).toHaveLength(1);
    expect(await linked.peers.get('hk-alice6')).toEqual(pin);
    expect(await realList('hk-alice6')).toEqual({ version: 2, devices: [1, 2] });
  });
});
