/**
 * Link frames (src/e2ee/link/link-frames.ts; docs/PROTOCOL.md §18.4): exact layouts, strict decoding.
 */
import { describe, expect, it } from 'vitest';
import { base64urlEncode, concatBytes, hexEncode } from '../../../src/crypto/bytes.js';
import { decodeLinkFrame, encodeLinkFrame, LINK_FRAME_MAX_BYTES, type LinkFrame } from '../../../src/e2ee/link/link-frames.js';
import { ChatError } from '../../../src/protocol/errors.js';
import { LINK_MAX_FRAME_CHARS } from '../../../src/protocol/limits.js';

const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill);
const share = bytes(32, 0xaa);
const tag = bytes(64, 0xbb);
const record = bytes(20, 0xcc);

function expectRefused(frame: Uint8Array, why: RegExp): void {
  try {
    decodeLinkFrame(frame);
    expect.unreachable('expected link_failed');
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe('link_failed');
    expect((err as ChatError).message).toMatch(why);
  }
}

describe('link frame layouts', () => {
  it.each<[string, LinkFrame, string]>([
    ['cpace-a = 0x01 ‖ Ya', { type: 'cpace-a', share }, '01' + hexEncode(share)],
    ['cpace-b = 0x02 ‖ Yb ‖ Tb ‖ final ‖ record', { type: 'cpace-b', share, tag, final: true, record }, '02' + hexEncode(share) + hexEncode(tag) + '01' + hexEncode(record)],
    ['confirm-a = 0x03 ‖ Ta ‖ final ‖ record', { type: 'confirm-a', tag, final: false, record }, '03' + hexEncode(tag) + '00' + hexEncode(record)],
    ['more = 0x04 ‖ final ‖ record', { type: 'more', final: true, record }, '04' + '01' + hexEncode(record)],
  ])('%s, and it decodes back', (_name, frame, hex) => {
    const encoded = encodeLinkFrame(frame);
    expect(hexEncode(encoded)).toBe(hex);
    expect(decodeLinkFrame(encoded)).toEqual(frame);
  });

  it('the largest frame, a cpace-b with a full record, fits the relay\'s frame cap in base64url', () => {
    const largest = encodeLinkFrame({ type: 'cpace-b', share, tag, final: false, record: bytes(48_016, 1) });
    expect(largest).toHaveLength(LINK_FRAME_MAX_BYTES);
    expect(LINK_FRAME_MAX_BYTES).toBe(48_114);
    expect(base64urlEncode(largest).length).toBeLessThanOrEqual(LINK_MAX_FRAME_CHARS);
  });

  it('refuses to encode fields of the wrong length', () => {
    expect(() => encodeLinkFrame({ type: 'cpace-a', share: bytes(31, 0) })).toThrow(RangeError);
    expect(() => encodeLinkFrame({ type: 'confirm-a', tag: bytes(63, 0), final: true, record })).toThrow(RangeError);
    expect(() => encodeLinkFrame({ type: 'more', final: true, record: bytes(15, 0) })).toThrow(RangeError);
    expect(() => encodeLinkFrame({ type: 'more', final: true, record: bytes(48_017, 0) })).toThrow(RangeError);
  });
});

describe('strict frame decoding', () => {
  const valid = {
    a: encodeLinkFrame({ type: 'cpace-a', share }),
    b: encodeLinkFrame({ type: 'cpace-b', share, tag, final: true, record: bytes(16, 1) }),
    c: encodeLinkFrame({ type: 'confirm-a', tag, final: true, record: bytes(16, 1) }),
    m: encodeLinkFrame({ type: 'more', final: true, record: bytes(16, 1) }),
  };

  it('refuses an empty frame and unknown types', () => {
    expectRefused(new Uint8Array(0), /empty/);
    for (const type of [0x00, 0x05, 0x81, 0xff]) expectRefused(concatBytes(Uint8Array.of(type), share), /unknown type/);
  });

  it('refuses a cpace-a one byte short or long', () => {
    expectRefused(valid.a.subarray(0, 32), /cpace-a is 32 bytes/);
    expectRefused(concatBytes(valid.a, Uint8Array.of(0)), /cpace-a is 34 bytes/);
  });

  it('refuses record frames whose record is shorter than a tag or longer than 48,016 bytes', () => {
    for (const f of [valid.b, valid.c, valid.m]) expectRefused(f.subarray(0, f.length - 1), /too short/);
    expectRefused(concatBytes(Uint8Array.of(0x04, 0x01), bytes(48_017, 0)), /too long/);
    expect(decodeLinkFrame(concatBytes(Uint8Array.of(0x04, 0x01), bytes(48_016, 0))).type).toBe('more');
  });

  it('refuses a final byte other than 0x00 or 0x01', () => {
    expectRefused(concatBytes(Uint8Array.of(0x04, 0x02), bytes(16, 0)), /final byte 2/);
    const b = valid.b.slice();
    b[97] = 0xff;
    expectRefused(b, /final byte 255/);
  });

  it('does not share memory with the input', () => {
    const input = valid.b.slice();
    const frame = decodeLinkFrame(input);
    input.fill(0);
    expect(frame.type === 'cpace-b' && frame.share.every((x) => x === 0xaa)).toBe(true);
  });
});
