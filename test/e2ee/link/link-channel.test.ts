/**
 * The link channel (src/e2ee/link/link-channel.ts; docs/PROTOCOL.md §18.3, §18.5): the key schedule and
 * the record layer. Known answers are ours (no outside spec defines this channel); each is recomputed here
 * directly from @noble/hashes and @noble/ciphers before being pinned, and PROTOCOL.md prints the same values.
 * Inputs: ISK = 0x00..0x3f, sid = 0x40..0x5f.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, hexEncode, utf8Decode, utf8Encode } from '../../../src/crypto/bytes.js';
import {
  deriveLinkChannelKeys,
  linkRecordAad,
  linkRecordNonce,
  LinkRecordOpener,
  LinkRecordSealer,
  splitLinkMessage,
} from '../../../src/e2ee/link/link-channel.js';
import { ChatError } from '../../../src/protocol/errors.js';
import { LINK_RECORD_MAX_PLAINTEXT_BYTES } from '../../../src/protocol/limits.js';

const seq = (start: number, length: number) => Uint8Array.from({ length }, (_, i) => start + i);
const ISK = seq(0x00, 64);
const SID = seq(0x40, 32);

const PINNED = {
  newToPrimary: '496c86d009cc85a3b896f519b46395eae5fdec7eecbd6d1fe7672f65bf967e9a',
  primaryToNew: 'e9bc68c3989506250be63d88864cc96c51704fd074e0a94a21288a0d0ef7f569',
  /** "hello" as the first record (counter 0) of a cpace-b frame, final, under kB→A. */
  helloRecord: '597f39e08f7bc840b6bb2ded0883eeb03edd370e61',
};

function expectLinkFailed(f: () => unknown): void {
  try {
    f();
    expect.unreachable('expected link_failed');
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe('link_failed');
  }
}

describe('link key schedule', () => {
  it('okm = HKDF-SHA-256(ISK, salt sid, info "e2ee-chat link v2 channel", 64): kB→A = okm[0:32], kA→B = okm[32:64]', () => {
    const keys = deriveLinkChannelKeys(ISK, SID);
    const okm = hkdf(sha256, ISK, SID, utf8Encode('e2ee-chat link v2 channel'), 64);
    expect(hexEncode(keys.newToPrimary)).toBe(hexEncode(okm.slice(0, 32)));
    expect(hexEncode(keys.primaryToNew)).toBe(hexEncode(okm.slice(32)));
    expect({ newToPrimary: hexEncode(keys.newToPrimary), primaryToNew: hexEncode(keys.primaryToNew) }).toEqual({
      newToPrimary: PINNED.newToPrimary,
      primaryToNew: PINNED.primaryToNew,
    });
  });

  it('the info label is 25 bytes and the record label 24', () => {
    expect(utf8Encode('e2ee-chat link v2 channel')).toHaveLength(25);
    expect(linkRecordAad(SID, 2, true)).toHaveLength(24 + 32 + 2);
  });
});

describe('link record layout', () => {
  it('nonce = 0x00000000 ‖ u64 big-endian counter', () => {
    expect(hexEncode(linkRecordNonce(0))).toBe('000000000000000000000000');
    expect(hexEncode(linkRecordNonce(1))).toBe('000000000000000000000001');
    expect(hexEncode(linkRecordNonce(2 ** 32 + 5))).toBe('000000000000000100000005');
  });

  it('AAD = "e2ee-chat link v2 record" ‖ sid ‖ type ‖ final', () => {
    expect(hexEncode(linkRecordAad(SID, 0x04, false))).toBe(hexEncode(concatBytes(utf8Encode('e2ee-chat link v2 record'), SID, Uint8Array.of(4, 0))));
    expect(hexEncode(linkRecordAad(SID, 0x02, true)).slice(-4)).toBe('0201');
  });

  it('a record is AES-256-GCM(kB→A, nonce(0), AAD) of the plaintext, tag appended', () => {
    const keys = deriveLinkChannelKeys(ISK, SID);
    const record = new LinkRecordSealer(keys.newToPrimary, SID).seal(0x02, true, utf8Encode('hello'));
    const direct = gcm(keys.newToPrimary, new Uint8Array(12), concatBytes(utf8Encode('e2ee-chat link v2 record'), SID, Uint8Array.of(2, 1))).encrypt(utf8Encode('hello'));
    expect(hexEncode(record)).toBe(hexEncode(direct));
    expect(record).toHaveLength(5 + 16);
    expect(hexEncode(record)).toBe(PINNED.helloRecord);
  });
});

describe('cutting a message into records', () => {
  it('cuts at 48,000 bytes; an empty message is one empty record', () => {
    expect(splitLinkMessage(new Uint8Array(0)).map((p) => p.length)).toEqual([0]);
    expect(splitLinkMessage(new Uint8Array(LINK_RECORD_MAX_PLAINTEXT_BYTES)).map((p) => p.length)).toEqual([48_000]);
    expect(splitLinkMessage(new Uint8Array(100_001)).map((p) => p.length)).toEqual([48_000, 48_000, 4_001]);
  });

  it('a sealer refuses a record above 48,000 bytes', () => {
    expect(() => new LinkRecordSealer(new Uint8Array(32), SID).seal(4, true, new Uint8Array(48_001))).toThrow(RangeError);
  });
});

describe('one direction of the channel', () => {
  const keys = deriveLinkChannelKeys(ISK, SID);
  const message = Uint8Array.from({ length: 100_001 }, (_, i) => (i * 7) & 0xff);
  /** The records of `message` as the first record of cpace-b (0x02) and then `more` (0x04) frames. */
  const sealAll = () => {
    const sealer = new LinkRecordSealer(keys.newToPrimary, SID);
    const parts = splitLinkMessage(message);
    return parts.map((p, i) => ({ type: i === 0 ? 0x02 : 0x04, final: i === parts.length - 1, record: sealer.seal(i === 0 ? 0x02 : 0x04, i === parts.length - 1, p) }));
  };

  it('round trip: records opened in order give the message back', () => {
    const opener = new LinkRecordOpener(keys.newToPrimary, SID);
    const opened = sealAll().map((r) => opener.open(r.type, r.final, r.record));
    expect(hexEncode(concatBytes(...opened))).toBe(hexEncode(message));
  });

  it('a tampered record is refused, and so is every record after it', () => {
    const records = sealAll();
    const opener = new LinkRecordOpener(keys.newToPrimary, SID);
    opener.open(records[0]!.type, records[0]!.final, records[0]!.record);
    const bad = records[1]!.record.slice();
    bad[100]! ^= 0x01;
    expectLinkFailed(() => opener.open(records[1]!.type, records[1]!.final, bad));
    expectLinkFailed(() => opener.open(records[1]!.type, records[1]!.final, records[1]!.record));
    expectLinkFailed(() => opener.open(records[2]!.type, records[2]!.final, records[2]!.record));
  });

  it('a tampered tag, a cut record and an empty one are refused', () => {
    const [first] = sealAll();
    for (const bad of [concatBytes(first!.record.subarray(0, -1), Uint8Array.of(first!.record.at(-1)! ^ 0x80)), first!.record.subarray(0, -1), new Uint8Array(0)]) {
      expectLinkFailed(() => new LinkRecordOpener(keys.newToPrimary, SID).open(first!.type, first!.final, bad));
    }
  });

  it('reordered records are refused: the counter is implicit', () => {
    const records = sealAll();
    const opener = new LinkRecordOpener(keys.newToPrimary, SID);
    expectLinkFailed(() => opener.open(records[1]!.type, records[1]!.final, records[1]!.record));
  });

  it('a replayed record is refused', () => {
    const records = sealAll();
    const opener = new LinkRecordOpener(keys.newToPrimary, SID);
    opener.open(records[0]!.type, records[0]!.final, records[0]!.record);
    expectLinkFailed(() => opener.open(records[0]!.type, records[0]!.final, records[0]!.record));
  });

  it('a record opened under the other direction\'s key, another sid, another type or another final flag is refused', () => {
    const [first] = sealAll();
    expectLinkFailed(() => new LinkRecordOpener(keys.primaryToNew, SID).open(first!.type, first!.final, first!.record));
    expectLinkFailed(() => new LinkRecordOpener(keys.newToPrimary, seq(0x41, 32)).open(first!.type, first!.final, first!.record));
    expectLinkFailed(() => new LinkRecordOpener(keys.newToPrimary, SID).open(0x04, first!.final, first!.record));
    expectLinkFailed(() => new LinkRecordOpener(keys.newToPrimary, SID).open(first!.type, !first!.final, first!.record));
  });

  it('a record under a key from another ISK is refused (a wrong code gives other keys)', () => {
    const [first] = sealAll();
    const other = deriveLinkChannelKeys(seq(0x01, 64), SID);
    expectLinkFailed(() => new LinkRecordOpener(other.newToPrimary, SID).open(first!.type, first!.final, first!.record));
  });

  it('opens what it was given without keeping a reference to the caller\'s key', () => {
    const key = keys.newToPrimary.slice();
    const sealer = new LinkRecordSealer(key, SID);
    key.fill(0);
    const record = sealer.seal(0x04, true, utf8Encode('still sealed under the real key'));
    expect(utf8Decode(new LinkRecordOpener(keys.newToPrimary, SID).open(0x04, true, record))).toBe('still sealed under the real key');
  });
});
