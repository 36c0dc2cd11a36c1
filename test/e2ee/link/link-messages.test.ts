/**
 * The offer and the provisioning (src/e2ee/link/link-messages.ts; docs/PROTOCOL.md §18.6): strict
 * shapes, the device-name rule, and the offer's signatures.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode, utf8Encode } from '../../../src/crypto/bytes.js';
import {
  deviceNameProblem,
  encodeLinkOffer,
  encodeLinkProvisioning,
  parseLinkOffer,
  parseLinkProvisioning,
  type LinkOffer,
} from '../../../src/e2ee/link/link-messages.js';
import { ChatError } from '../../../src/protocol/errors.js';
import { makeOffer, makePin, makeProvisioning } from './fixtures.js';

let offer: LinkOffer;
beforeAll(async () => {
  offer = await makeOffer();
});

const json = (value: unknown) => utf8Encode(JSON.stringify(value));

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe('link_failed');
    return (err as ChatError).message;
  }
  return expect.unreachable('expected link_failed');
}

describe('device names', () => {
  it.each([
    ['', undefined],
    ['laptop', undefined],
    ['Büro-PC 2', undefined],
    ['x'.repeat(32), undefined],
    ['é'.repeat(16), undefined],
    ['x'.repeat(33), /longer than 32 bytes/],
    ['é'.repeat(17), /longer than 32 bytes/],
    ['tab\there', /control character/],
    ['new\nline', /control character/],
    ['del\u007f', /control character/],
    ['c1\u0085', /control character/],
    ['lone \ud800', /lone surrogate/],
  ])('%j → %s', (name, why) => {
    const problem = deviceNameProblem(name);
    if (why === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(why);
  });
});

describe('the offer', () => {
  it('round-trips through its encoding', () => {
    expect(parseLinkOffer(encodeLinkOffer(offer))).toEqual(offer);
  });

  it.each<[string, (o: Record<string, unknown>) => unknown, RegExp]>([
    ['an unknown member', (o) => ({ ...o, extra: 1 }), /Unrecognized key/],
    ['an unknown member inside identity', (o) => ({ ...o, identity: { ...(o.identity as object), x: 1 } }), /identity/],
    ['an unknown member in the RSA key', (o) => ({ ...o, encryptionKey: { ...(o.encryptionKey as object), d: 'AA' } }), /encryptionKey/],
    ['version 1', (o) => ({ ...o, v: 1 }), /^the offer is malformed: v:/],
    ['a name of 33 bytes', (o) => ({ ...o, name: 'x'.repeat(33) }), /name: the name is longer than 32 bytes/],
    ['a name with a newline', (o) => ({ ...o, name: 'a\nb' }), /name: the name contains a control character/],
    ['a signing key of 31 bytes', (o) => ({ ...o, signingKey: base64urlEncode(new Uint8Array(31)) }), /signingKey/],
    ['a signing key with non-zero trailing bits', (o) => ({ ...o, signingKey: (o.signingKey as string).slice(0, 42) + 'B' }), /signingKey|not canonical|does not verify/],
    ['a missing KEM prekey', (o) => ({ ...o, lastResortKemPreKey: undefined }), /lastResortKemPreKey/],
    ['e other than AQAB', (o) => ({ ...o, encryptionKey: { ...(o.encryptionKey as object), e: 'Aw' } }), /encryptionKey\.e/],
  ])('refuses %s', (_name, change, why) => {
    expect(refusal(() => parseLinkOffer(json(change({ ...offer }))))).toMatch(why);
  });

  it('refuses low-order X25519 keys before looking at signatures', () => {
    const zero = base64urlEncode(new Uint8Array(32));
    expect(refusal(() => parseLinkOffer(json({ ...offer, identity: { ...offer.identity, dhKey: zero } })))).toMatch(/identity\.dhKey is a low-order X25519 key/);
    expect(refusal(() => parseLinkOffer(json({ ...offer, signedPreKey: { ...offer.signedPreKey, publicKey: zero } })))).toMatch(/signedPreKey\.publicKey is a low-order/);
  });

  it('refuses an offer whose identity binding was made by another key', async () => {
    const other = await makeOffer('laptop', 'someone else');
    expect(refusal(() => parseLinkOffer(json({ ...offer, identity: other.identity })))).toMatch(/identity binding does not verify/);
  });

  it('refuses an offer whose prekeys were signed by another key', async () => {
    const other = await makeOffer('laptop', 'someone else');
    expect(refusal(() => parseLinkOffer(json({ ...offer, signedPreKey: other.signedPreKey })))).toMatch(/signed prekey signature/);
    expect(refusal(() => parseLinkOffer(json({ ...offer, lastResortKemPreKey: other.lastResortKemPreKey })))).toMatch(/ML-KEM prekey signature/);
  });

  it('refuses bytes that are not UTF-8 JSON', () => {
    expect(refusal(() => parseLinkOffer(Uint8Array.of(0xff, 0xfe)))).toMatch(/not UTF-8 JSON/);
    expect(refusal(() => parseLinkOffer(utf8Encode('{"v":2,')))).toMatch(/not UTF-8 JSON/);
  });

  it('is refused by the sender itself when it would not pass', () => {
    const bad = { ...offer, signingKey: base64urlEncode(new Uint8Array(32).fill(1)) };
    expect(refusal(() => encodeLinkOffer(bad))).toMatch(/does not verify/);
  });

  it('keeps the keys exactly as sent', () => {
    const parsed = parseLinkOffer(encodeLinkOffer(offer));
    expect(base64urlDecode(parsed.lastResortKemPreKey.publicKey)).toHaveLength(1568);
  });
});

describe('the provisioning', () => {
  it('round-trips through its encoding', () => {
    const p = makeProvisioning('alice', { pins: [makePin('bob'), { ...makePin('carol'), deviceList: undefined }].map((x) => JSON.parse(JSON.stringify(x))) });
    expect(parseLinkProvisioning(encodeLinkProvisioning(p), 'alice')).toEqual(p);
  });

  it('must be for the account the device is being linked to', () => {
    expect(refusal(() => parseLinkProvisioning(encodeLinkProvisioning(makeProvisioning('bob')), 'alice'))).toMatch(/it is for bob, not alice/);
  });

  it.each<[string, (p: Record<string, unknown>) => unknown, RegExp]>([
    ['an unknown member', (p) => ({ ...p, privateKey: 'x' }), /Unrecognized key/],
    ['device 1', (p) => ({ ...p, device: 1 }), /device/],
    ['device 2^31', (p) => ({ ...p, device: 2 ** 31 }), /device/],
    ['a fractional device', (p) => ({ ...p, device: 2.5 }), /device/],
    ['approval by a device other than 1', (p) => ({ ...p, approvedBy: 2 }), /approvedBy/],
    ['an account key with a private part', (p) => ({ ...p, account: { ...(p.account as object), signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), d: 'A'.repeat(43) } } }), /account\.signingKey/],
    ['a device list without its signature', (p) => ({ ...p, deviceList: { list: (p.deviceList as { list: string }).list } }), /deviceList\.signature/],
    ['a device list too short to be one', (p) => ({ ...p, deviceList: { ...(p.deviceList as object), list: 'AAAA' } }), /deviceList\.list/],
    ['a peer pinned twice', (p) => ({ ...p, pins: [makePin('bob'), makePin('bob', 0x44)] }), /pinned twice/],
    ['a pin with an invalid username', (p) => ({ ...p, pins: [makePin('Bob')] }), /pins\.0\.username/],
    ['a history count above 10,000', (p) => ({ ...p, history: { count: 10_001 } }), /history\.count/],
  ])('refuses %s', (_name, change, why) => {
    expect(refusal(() => parseLinkProvisioning(json(change({ ...makeProvisioning('alice') })), 'alice'))).toMatch(why);
  });
});
