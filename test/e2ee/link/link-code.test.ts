/**
 * Link codes (src/e2ee/link/link-code.ts; docs/PROTOCOL.md §18.1): what the new device prints and what
 * the primary accepts when the user types it.
 */
import { describe, expect, it } from 'vitest';
import { hexEncode } from '../../../src/crypto/bytes.js';
import { CROCKFORD_ALPHABET, formatLinkCode, generateLinkSecret, LINK_CODE_HASH_PATTERN, linkCodeHash, linkCodePrs, parseLinkCode } from '../../../src/e2ee/link/link-code.js';
import { ChatError } from '../../../src/protocol/errors.js';

const bytesSource = (...bytes: number[]) => (n: number) => {
  expect(n).toBe(5);
  return Uint8Array.from(bytes);
};

describe('generating a link secret', () => {
  it('turns 40 random bits into 8 Crockford base32 characters, most significant first', () => {
    expect(generateLinkSecret(bytesSource(0, 0, 0, 0, 0))).toBe('00000000');
    expect(generateLinkSecret(bytesSource(0xff, 0xff, 0xff, 0xff, 0xff))).toBe('ZZZZZZZZ');
    // 0x08 0x86 0x42 0x98 0xe8 = 00001 00010 00011 00100 00101 00110 00111 01000
    expect(generateLinkSecret(bytesSource(0x08, 0x86, 0x42, 0x98, 0xe8))).toBe('12345678');
    // 10000 10001 10010 10011 10100 10101 10110 10111 → G H J K M N P Q
    expect(generateLinkSecret(bytesSource(0x84, 0x65, 0x3a, 0x56, 0xd7))).toBe('GHJKMNPQ');
  });

  it('uses the CSPRNG by default and only alphabet characters', () => {
    const secret = generateLinkSecret((n) => crypto.getRandomValues(new Uint8Array(n)));
    expect(secret).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
    expect(CROCKFORD_ALPHABET).toHaveLength(32);
  });

  it('is printed as slot-XXXX-XXXX and its PRS is the 8 canonical ASCII characters', () => {
    const code = { slot: '417', secret: 'K7QM9TZC' };
    expect(formatLinkCode(code)).toBe('417-K7QM-9TZC');
    expect(hexEncode(linkCodePrs(code))).toBe('4b37514d39545a43');
  });
});

describe('parsing a typed link code', () => {
  it.each([
    ['417-K7QM-9TZC', '417', 'K7QM9TZC'],
    ['  417-k7qm-9tzc \n', '417', 'K7QM9TZC'],
    ['417 - K7QM 9TZC', '417', 'K7QM9TZC'],
    ['417-K7QM9TZC', '417', 'K7QM9TZC'],
    ['417-K7-QM-9T-ZC', '417', 'K7QM9TZC'],
    ['417-OOOO-IiLl', '417', '00001111'],
    ['999999-ZZZZ-ZZZZ', '999999', 'ZZZZZZZZ'],
    ['1-0000-0000', '1', '00000000'],
  ])('reads %j as slot %s, secret %s', (typed, slot, secret) => {
    expect(parseLinkCode(typed)).toEqual({ slot, secret });
  });

  it.each([
    ['an empty string', ''],
    ['no dash after the slot', '417K7QM9TZC'],
    ['a slot with a leading zero', '0417-K7QM-9TZC'],
    ['a slot of seven digits', '1234567-K7QM-9TZC'],
    ['a slot that is not digits', 'A17-K7QM-9TZC'],
    ['seven secret characters', '417-K7QM-9TZ'],
    ['nine secret characters', '417-K7QM-9TZCC'],
    ['U, which is not in the alphabet', '417-K7QM-9TZU'],
    ['punctuation', '417-K7QM-9TZ!'],
    ['a tab inside', '417-K7QM\t9TZC'],
    ['a dotless i that upper-cases to I', '417-K7QM-9TZı'],
    ['a long s that upper-cases to S', '417-K7QM-9TZſ'],
    ['a fullwidth digit', '417-K7QM-9TZ１'],
  ])('refuses %s locally with link_failed', (_name, typed) => {
    try {
      parseLinkCode(typed);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ChatError);
      expect((err as ChatError).code).toBe('link_failed');
      expect((err as ChatError).message).toMatch(/^that is not a link code \(.+\); it looks like 417-K7QM-9TZC$/);
    }
  });

  it('round-trips every generated code', () => {
    for (let i = 0; i < 200; i++) {
      const code = { slot: String(100 + i), secret: generateLinkSecret((n) => crypto.getRandomValues(new Uint8Array(n))) };
      expect(parseLinkCode(formatLinkCode(code))).toEqual(code);
      expect(parseLinkCode(formatLinkCode(code).toLowerCase())).toEqual(code);
    }
  });
});

describe('the hash a primary records of a tried code', () => {
  it('is SHA-256 of the printed code in base64url, the same however the code was typed', () => {
    // Known answer: printf '417-K7QM-9TZC' | sha256sum, in base64url.
    const expected = 'GbPvWfEGgsE6dATAfbM2e6n58o9GN3udHu85m9rPymc';
    expect(linkCodeHash(parseLinkCode('417-K7QM-9TZC'))).toBe(expected);
    expect(linkCodeHash(parseLinkCode(' 417-k7qm 9tzc '))).toBe(expected);
    expect(expected).toMatch(LINK_CODE_HASH_PATTERN);
  });

  it('differs when only the slot differs', () => {
    expect(linkCodeHash({ slot: '418', secret: 'K7QM9TZC' })).not.toBe(linkCodeHash({ slot: '417', secret: 'K7QM9TZC' }));
  });
});
