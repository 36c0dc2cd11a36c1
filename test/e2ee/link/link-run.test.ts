/**
 * Both roles of a device link run against each other (src/e2ee/link/link-initiator.ts and
 * link-responder.ts; docs/PROTOCOL.md §18.7), with the relay played by the test: frames are handed over
 * by hand, so a test can drop, alter, replay or forge any of them as a hostile server would.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { hexDecode, hexEncode, utf8Encode, type Bytes } from '../../../src/crypto/bytes.js';
import { CPaceParty, calculateGenerator } from '../../../src/e2ee/link/cpace.js';
import { deriveLinkChannelKeys, LinkRecordSealer } from '../../../src/e2ee/link/link-channel.js';
import { LINK_AD, linkCpaceInputs, type LinkRunParameters } from '../../../src/e2ee/link/link-cpace-inputs.js';
import { decodeLinkFrame, encodeLinkFrame, LINK_FRAME_TYPE } from '../../../src/e2ee/link/link-frames.js';
import { LinkInitiator, type LinkInitiatorEvent } from '../../../src/e2ee/link/link-initiator.js';
import { encodeLinkProvisioning, type LinkOffer } from '../../../src/e2ee/link/link-messages.js';
import { LinkResponder, type LinkResponderEvent } from '../../../src/e2ee/link/link-responder.js';
import { ChatError } from '../../../src/protocol/errors.js';
import { seededRandom } from '../pqxdh/fixtures.js';
import { makeOffer, makePin, makeProvisioning } from './fixtures.js';

const seq = (start: number, length: number) => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
const CODE = { slot: '417', secret: 'K7QM9TZC' };

let offer: LinkOffer;
beforeAll(async () => {
  offer = await makeOffer('laptop');
});

/** One run's parameters; each run draws its own sids unless told. */
function params(overrides: Partial<LinkRunParameters> = {}, run = 'run 1'): LinkRunParameters {
  const random = seededRandom(`sids ${run}`);
  return { username: 'alice', code: CODE, sidA: random(16), sidB: random(16), ...overrides };
}

function expectFailed(event: LinkInitiatorEvent | LinkResponderEvent, why?: RegExp): ChatError {
  expect(event.kind).toBe('failed');
  const { error } = event as { error: ChatError };
  expect(error).toBeInstanceOf(ChatError);
  expect(error.code).toBe('link_failed');
  if (why) expect(error.message).toMatch(why);
  return error;
}

/** The new device's answer to cpace-a: its frames (cpace-b with the offer, then `more`). */
function answer(responder: LinkResponder, cpaceA: Bytes): readonly Bytes[] {
  const event = responder.receive(cpaceA);
  if (event.kind !== 'send') throw new Error(`expected frames to send, got ${event.kind}`);
  return event.frames;
}

/** Feeds frames to the primary; returns its last event. */
function feedInitiator(initiator: LinkInitiator, frames: readonly Bytes[]): LinkInitiatorEvent {
  let last: LinkInitiatorEvent = { kind: 'wait' };
  for (const f of frames) last = initiator.receive(f);
  return last;
}

function feedResponder(responder: LinkResponder, frames: readonly Bytes[]): LinkResponderEvent {
  let last: LinkResponderEvent = { kind: 'wait' };
  for (const f of frames) last = responder.receive(f);
  return last;
}

describe('linking with the right code', () => {
  it('the primary gets the offer, the new device gets the provisioning, and both runs are done', () => {
    const p = params();
    const { run: primary, frame: cpaceA } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    expect(decodeLinkFrame(cpaceA).type).toBe('cpace-a');

    const offerFrames = answer(device, cpaceA);
    expect(offerFrames.map((f) => decodeLinkFrame(f).type)).toEqual(['cpace-b']);
    const got = feedInitiator(primary, offerFrames);
    expect(got).toEqual({ kind: 'offer', offer });

    const provisioning = makeProvisioning('alice');
    const provisioningFrames = primary.provision(provisioning);
    expect(primary.state).toBe('done');
    expect(provisioningFrames.map((f) => decodeLinkFrame(f).type)).toEqual(['confirm-a']);
    expect(feedResponder(device, provisioningFrames)).toEqual({ kind: 'provisioned', provisioning });
    expect(device.state).toBe('done');
  });

  it('a provisioning larger than one record arrives whole across more frames', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    feedInitiator(primary, answer(device, frame));
    // About 1.5 KB a pin: 70 pins make three records.
    const pins = Array.from({ length: 70 }, (_, i) => makePin(`peer${i}`));
    const provisioning = makeProvisioning('alice', { pins, history: 200 });
    const frames = primary.provision(provisioning);
    expect(encodeLinkProvisioning(provisioning).length).toBeGreaterThan(2 * 48_000);
    expect(frames.map((f) => decodeLinkFrame(f).type)).toEqual(['confirm-a', 'more', 'more']);
    expect(frames.map((f) => (decodeLinkFrame(f) as { final: boolean }).final)).toEqual([false, false, true]);
    expect(device.receive(frames[0]!)).toEqual({ kind: 'wait' });
    expect(device.receive(frames[1]!)).toEqual({ kind: 'wait' });
    expect(device.receive(frames[2]!)).toEqual({ kind: 'provisioned', provisioning });
  });

  it('a provisioning that needs more frames than the relay carries fails before anything is sent', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    feedInitiator(primary, answer(new LinkResponder(p, offer), frame));
    // 2,100 pins of about 1.5 KB: more than 63 records of 48,000 bytes.
    const pins = Array.from({ length: 2_100 }, (_, i) => makePin(`peer${i}`));
    expect(() => primary.provision(makeProvisioning('alice', { pins }))).toThrow(/needs \d+ link frames; the relay carries at most 63/);
    expect(primary.state).toBe('failed');
  });
});

describe('a wrong code', () => {
  it('fails on the primary at the new device\'s tag Tb, before the offer is opened', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start({ ...p, code: { slot: '417', secret: 'K7QM9TZD' } });
    const device = new LinkResponder(p, offer);
    expectFailed(primary.receive(answer(device, frame)[0]!), /the code did not match/);
    expect(primary.state).toBe('failed');
    expect(() => primary.provision(makeProvisioning())).toThrow(/needs a received offer/);
  });

  it('fails on the new device at the primary\'s tag Ta, before the provisioning is opened', () => {
    // A primary that typed the wrong code and carries on regardless (or a server posing as the
    // primary): it can only produce Ta and records under its own, different keys.
    const p = params();
    const device = new LinkResponder(p, offer);
    const rogueInputs = linkCpaceInputs({ ...p, code: { slot: '417', secret: 'K7QM9TZD' } });
    const rogue = CPaceParty.start('initiator', rogueInputs, LINK_AD, seededRandom('rogue'));
    const cpaceB = decodeLinkFrame(answer(device, encodeLinkFrame({ type: 'cpace-a', share: rogue.share }))[0]!);
    if (cpaceB.type !== 'cpace-b') throw new Error('expected cpace-b');
    const session = rogue.finish(cpaceB.share, LINK_AD);
    expect(session.confirms(cpaceB.tag)).toBe(false);
    const keys = deriveLinkChannelKeys(session.isk(), rogueInputs.sid);
    const record = new LinkRecordSealer(keys.primaryToNew, rogueInputs.sid).seal(LINK_FRAME_TYPE['confirm-a'], true, encodeLinkProvisioning(makeProvisioning('alice')));
    const forged = encodeLinkFrame({ type: 'confirm-a', tag: session.ownTag(), final: true, record });
    expectFailed(device.receive(forged), /could not confirm the key: it is not alice's primary/);
    expect(device.state).toBe('failed');
  });

  it('the new device fails when the primary gives up (link.closed) and takes nothing afterwards', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    answer(device, frame);
    device.abort('the primary closed the link');
    expectFailed(device.receive(frame), /the primary closed the link/);
    expect(primary.state).toBe('awaiting-cpace-b');
  });
});

describe('a code for another account or slot', () => {
  it.each([
    ['another username', { username: 'mallory' }],
    ['another slot', { code: { slot: '418', secret: CODE.secret } }],
  ])('fails at the primary\'s check of Tb when the code is relayed into %s', (_name, overrides) => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start({ ...p, ...overrides });
    expectFailed(primary.receive(answer(new LinkResponder(p, offer), frame)[0]!), /the code did not match/);
  });
});

describe('frames replayed from another run', () => {
  /** A complete first run, its frames kept as a server would keep them. */
  function firstRun() {
    const p = params({}, 'first');
    const { run: primary, frame: cpaceA } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    const offerFrames = answer(device, cpaceA);
    feedInitiator(primary, offerFrames);
    const provisioningFrames = primary.provision(makeProvisioning('alice'));
    expect(feedResponder(device, provisioningFrames).kind).toBe('provisioned');
    return { cpaceA, offerFrames, provisioningFrames };
  }

  it('an old cpace-b fails at the new run\'s primary (other sid, other Ya)', () => {
    const old = firstRun();
    const { run: primary } = LinkInitiator.start(params({}, 'second'));
    expectFailed(primary.receive(old.offerFrames[0]!), /the code did not match/);
  });

  it('an old confirm-a fails at the new run\'s device', () => {
    const old = firstRun();
    const p = params({}, 'second');
    const { frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    answer(device, frame);
    expectFailed(device.receive(old.provisioningFrames[0]!), /could not confirm the key/);
  });

  it('an old cpace-a answered by the new run\'s device leads nowhere: the old primary\'s confirm-a fails', () => {
    const old = firstRun();
    const device = new LinkResponder(params({}, 'second'), offer);
    answer(device, old.cpaceA);
    expectFailed(device.receive(old.provisioningFrames[0]!), /could not confirm the key/);
  });
});

describe('frames out of order, repeated or malformed', () => {
  it('the new device answers one cpace-a only: a second one ends the run', () => {
    const p = params();
    const { frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    answer(device, frame);
    expectFailed(device.receive(frame), /unexpected cpace-a/);
  });

  it('the primary refuses anything before cpace-b, and a second cpace-b', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const [cpaceB] = answer(new LinkResponder(p, offer), frame);
    expectFailed(LinkInitiator.start(p).run.receive(encodeLinkFrame({ type: 'more', final: true, record: new Uint8Array(16) })), /unexpected more/);
    expect(primary.receive(cpaceB!).kind).toBe('offer');
    expectFailed(primary.receive(cpaceB!), /unexpected cpace-b/);
  });

  it('the new device refuses confirm-a before cpace-a', () => {
    const device = new LinkResponder(params(), offer);
    expectFailed(device.receive(encodeLinkFrame({ type: 'confirm-a', tag: new Uint8Array(64), final: true, record: new Uint8Array(16) })), /unexpected confirm-a/);
  });

  it('an altered Tb fails the primary even though the offer record is genuine', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const cpaceB = answer(new LinkResponder(p, offer), frame)[0]!.slice();
    cpaceB[1 + 32 + 5]! ^= 0x01;
    expectFailed(primary.receive(cpaceB), /the code did not match/);
  });

  it('an altered Ta fails the new device even though the provisioning record is genuine', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    feedInitiator(primary, answer(device, frame));
    const [confirmA] = primary.provision(makeProvisioning('alice'));
    const altered = confirmA!.slice();
    altered[10]! ^= 0x01;
    expectFailed(device.receive(altered), /could not confirm the key/);
    // The genuine frame is no use now: the run is over.
    expectFailed(device.receive(confirmA!));
  });

  it('an altered offer record fails the primary after Tb', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const cpaceB = answer(new LinkResponder(p, offer), frame)[0]!.slice();
    cpaceB[cpaceB.length - 20]! ^= 0x01;
    expectFailed(primary.receive(cpaceB), /did not open/);
  });

  it('dropping a more frame fails the new device at the next one', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    feedInitiator(primary, answer(device, frame));
    const frames = primary.provision(makeProvisioning('alice', { pins: Array.from({ length: 70 }, (_, i) => makePin(`peer${i}`)) }));
    expect(device.receive(frames[0]!)).toEqual({ kind: 'wait' });
    expectFailed(device.receive(frames[2]!), /did not open/);
  });

  it('a malformed frame ends the run', () => {
    const device = new LinkResponder(params(), offer);
    expectFailed(device.receive(Uint8Array.of(0x09)), /unknown type 0x09/);
  });

  it.each([
    ['the identity', new Uint8Array(32)],
    ['an invalid encoding', hexDecode('2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c')],
  ])('a share that is %s ends the run on either side (CPace §7.2)', (_name, share) => {
    const p = params();
    expectFailed(new LinkResponder(p, offer).receive(encodeLinkFrame({ type: 'cpace-a', share })), /not a valid ristretto255 element/);
    const { run: primary } = LinkInitiator.start(p);
    const forged = encodeLinkFrame({ type: 'cpace-b', share, tag: new Uint8Array(64), final: true, record: new Uint8Array(16) });
    expectFailed(primary.receive(forged), /not a valid ristretto255 element/);
  });

  it('a provisioning for another account fails on the new device', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    feedInitiator(primary, answer(device, frame));
    expectFailed(feedResponder(device, primary.provision(makeProvisioning('bob'))), /it is for bob, not alice/);
  });

  it('after the link is complete, further frames are refused and change nothing', () => {
    const p = params();
    const { run: primary, frame } = LinkInitiator.start(p);
    const device = new LinkResponder(p, offer);
    const offerFrames = answer(device, frame);
    feedInitiator(primary, offerFrames);
    const frames = primary.provision(makeProvisioning('alice'));
    expect(feedResponder(device, frames).kind).toBe('provisioned');
    expectFailed(device.receive(frames[0]!), /already complete/);
    expectFailed(primary.receive(offerFrames[0]!), /already complete/);
    expect([device.state, primary.state]).toEqual(['done', 'done']);
  });
});

/**
 * A whole run with fixed inputs, for other implementations (printed in docs/PROTOCOL.md §18.8):
 * username "alice", code 417-K7QM-9TZC, sidA = 0x00..0x0f, sidB = 0x10..0x1f, and the scalars ya and yb
 * of CPace draft 21 Appendix B.3 as the two parties' random draws.
 */
describe('known answers for a link run', () => {
  const kat = { username: 'alice', code: CODE, sidA: seq(0x00, 16), sidB: seq(0x10, 16) };
  const ya = 'da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08';
  const yb = 'd2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d';
  const draw = (hex: string) => () => hexDecode(hex);

  it('CI, sid, the generator, both shares, ISK, both tags and both channel keys', () => {
    const inputs = linkCpaceInputs(kat);
    const a = CPaceParty.start('initiator', inputs, LINK_AD, draw(ya));
    const b = CPaceParty.start('responder', inputs, LINK_AD, draw(yb));
    const sessionB = b.finish(a.share, LINK_AD);
    const sessionA = a.finish(b.share, LINK_AD);
    const isk = sessionA.isk();
    expect(hexEncode(sessionB.isk())).toBe(hexEncode(isk));
    const keys = deriveLinkChannelKeys(isk, inputs.sid);
    expect({
      PRS: hexEncode(inputs.prs),
      CI: hexEncode(inputs.ci),
      sid: hexEncode(inputs.sid),
      g: hexEncode(calculateGenerator(inputs.prs, inputs.ci, inputs.sid).toBytes()),
      Ya: hexEncode(a.share),
      Yb: hexEncode(b.share),
      ISK: hexEncode(isk),
      Ta: hexEncode(sessionA.ownTag()),
      Tb: hexEncode(sessionB.ownTag()),
      kBA: hexEncode(keys.newToPrimary),
      kAB: hexEncode(keys.primaryToNew),
    }).toEqual(LINK_KAT);
    expect(hexEncode(utf8Encode('e2ee-chat link v2'))).toBe(LINK_KAT.CI.slice(2, 2 + 34));
  });

  it('the state machines produce exactly these frames', () => {
    const { run: primary, frame } = LinkInitiator.start(kat, draw(ya));
    expect(hexEncode(frame)).toBe('01' + LINK_KAT.Ya);
    const cpaceB = decodeLinkFrame(answer(new LinkResponder(kat, offer, draw(yb)), frame)[0]!);
    expect(cpaceB.type === 'cpace-b' && [hexEncode(cpaceB.share), hexEncode(cpaceB.tag)]).toEqual([LINK_KAT.Yb, LINK_KAT.Tb]);
    expect(primary.receive(encodeLinkFrame(cpaceB)).kind).toBe('offer');
    const confirmA = decodeLinkFrame(primary.provision(makeProvisioning('alice'))[0]!);
    expect(confirmA.type === 'confirm-a' && hexEncode(confirmA.tag)).toBe(LINK_KAT.Ta);
  });
});

const LINK_KAT = {
  PRS: '4b37514d39545a43',
  CI: '11653265652d63686174206c696e6b20763205616c69636503343137',
  sid: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  g: 'fe9824778ce89c46878c949b70c99c109593c76834f92291fd2a2c9278756e15',
  Ya: 'b65d918adeb4f27552b0337b2ef6affdda96733a3ae24e834cb9b5698c33041b',
  Yb: '24a0d5f8a585fef0f7df5f4b745c60409bf6a23d43388836589c6e6f4c785a3e',
  ISK: 'd4beaf8881f7bf7f5fe4b0607e796347ce5d49f4540a75c0ce850b6fc6477c8f94408628879eb061fc58b29c39374ae4a9c6a337d764e35c0aa5ecaf31e37ded',
  Ta: 'a4b23f2b659f261115a1724b2b6b855b360f839f7567244b317456084173b592b178ffff7fcba472304c71d2c89ab386941c0fb21396778c7459d3e4285133d8',
  Tb: '2453ddc7142872cf6b81dc82a6645e8d8947384efed9b788cfa3f4d711d5b2f6eb43472bfd6a6f3005d1a051437d1ff849e6fb0a2eb61abf28e1c2f98b92af35',
  kBA: '6c5cdf0d2d726fbbdd1f9a9ea529c75feb17eb429f5ca4ccd500b96ca62bfa61',
  kAB: '84c12a24bddab9cf2b18416981c7889a7dc546a515db8f68886093ff47e8c099',
};
