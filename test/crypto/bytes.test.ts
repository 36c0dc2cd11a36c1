/**
 * The byte helpers in src/crypto/bytes.ts that every JOSE field and every vector goes through.
 *
 * Sources: base64url is RFC 4648 §5 without padding (as JOSE requires, RFC 7515 §2); canonical encoding
 * (zero trailing bits) is RFC 4648 §3.5. Node's Buffer ('base64url') serves as an independent oracle for
 * the property-based checks (fast-check). No external vector file is used here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  base64urlDecode,
  base64urlEncode,
  concatBytes,
  constantTimeEqual,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../../src/crypto/bytes.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64urlChar = fc.constantFrom(...ALPHABET.split(''));
const b64urlString = fc.array(b64urlChar, { maxLength: 64 }).map((cs) => cs.join(''));

describe('base64url (RFC 4648 §5, unpadded)', () => {
  it('encodes the RFC 4648 §10 test vectors (padding removed, base64url alphabet)', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      expect(base64urlEncode(utf8Encode(plain))).toBe(encoded);
      expect(utf8Decode(base64urlDecode(encoded))).toBe(plain);
    }
    // The two characters where base64url differs from base64: 62 -> '-', 63 -> '_'.
    expect(base64urlEncode(Uint8Array.from([0xfb, 0xff, 0xbf]))).toBe('-_-_');
    expect(Array.from(base64urlDecode('-_-_'))).toEqual([0xfb, 0xff, 0xbf]);
  });

  it('round-trips any bytes, and agrees with Node Buffer base64url', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const encoded = base64urlEncode(bytes);
        expect(encoded).toBe(Buffer.from(bytes).toString('base64url'));
        expect(encoded).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(encoded.length).toBe(Math.ceil((bytes.length * 4) / 3));
        const decoded = base64urlDecode(encoded);
        expect(decoded).toBeInstanceOf(Uint8Array);
        expect(decoded.buffer).toBeInstanceOf(ArrayBuffer);
        expect(Array.from(decoded)).toEqual(Array.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts only canonical strings: any alphabet string either throws or re-encodes to itself', () => {
    fc.assert(
      fc.property(b64urlString, (text) => {
        let decoded: Uint8Array;
        try {
          decoded = base64urlDecode(text);
        } catch {
          // Rejected: must be an impossible length or non-zero trailing bits.
          const lastBits = text.length % 4 === 2 ? 4 : text.length % 4 === 3 ? 2 : 0;
          const last = ALPHABET.indexOf(text.at(-1) ?? 'A');
          expect(text.length % 4 === 1 || (last & ((1 << lastBits) - 1)) !== 0).toBe(true);
          return;
        }
        expect(base64urlEncode(decoded)).toBe(text);
        expect(Array.from(decoded)).toEqual(Array.from(Buffer.from(text, 'base64url')));
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects padding '='", () => {
    for (const text of ['Zg==', 'Zg=', 'Zm8=', 'Zm9vYg==', '====', '=', 'Zm9v=']) {
      expect(() => base64urlDecode(text), text).toThrow();
    }
  });

  it("rejects the standard-base64 characters '+' and '/', and anything else outside the alphabet", () => {
    for (const text of ['+_-_', '-_+_', '/w', '-/8', 'ab+c', 'ab/c', 'Zm9v Yg', 'Zm9v\nYg', 'Zm9v.Yg', 'Zm9vYé', 'Zm9v\u0000']) {
      expect(() => base64urlDecode(text), JSON.stringify(text)).toThrow();
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 48 }), fc.nat(), fc.constantFrom('+', '/', '=', ' ', '.', '\u00ff'), (bytes, at, bad) => {
        const encoded = base64urlEncode(bytes);
        const i = at % encoded.length;
        expect(() => base64urlDecode(encoded.slice(0, i) + bad + encoded.slice(i + 1))).toThrow();
      }),
    );
  });

  it('rejects non-canonical trailing bits (e.g. "Zh" for "f", "Zm9" vs "Zm8")', () => {
    // 'Zg' is the canonical encoding of 'f' (0x66); 'Zh'..'Zv' carry the same byte with non-zero spare bits.
    expect(Array.from(base64urlDecode('Zg'))).toEqual([0x66]);
    for (const text of ['Zh', 'Zi', 'Zv', 'Z_', 'Zm9', 'Zm-', 'AB', 'AAB', 'AAC', 'AAD']) {
      expect(() => base64urlDecode(text), text).toThrow();
    }
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((b) => b.length % 3 !== 0),
        fc.integer({ min: 1, max: 15 }),
        (bytes, noise) => {
          const encoded = base64urlEncode(bytes);
          const spareBits = bytes.length % 3 === 1 ? 4 : 2;
          const extra = noise & ((1 << spareBits) - 1);
          fc.pre(extra !== 0);
          const last = ALPHABET.indexOf(encoded.at(-1)!);
          expect(last & ((1 << spareBits) - 1)).toBe(0);
          const tampered = encoded.slice(0, -1) + ALPHABET[last | extra]!;
          expect(() => base64urlDecode(tampered)).toThrow();
        },
      ),
    );
  });

  it('rejects impossible lengths (length % 4 === 1)', () => {
    for (const text of ['A', 'Z', 'AAAAA', 'Zm9vY']) expect(() => base64urlDecode(text), text).toThrow();
  });
});

describe('constantTimeEqual', () => {
  it('is true for equal contents (including empty) and false for different lengths', () => {
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(Uint8Array.from([1, 2, 3]), Uint8Array.from([1, 2]))).toBe(false);
    expect(constantTimeEqual(Uint8Array.from([1, 2]), Uint8Array.from([1, 2, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), Uint8Array.from([0]))).toBe(false);
  });

  it('is false when any single bit of any byte differs', () => {
    const a = Uint8Array.from({ length: 32 }, (_, i) => i * 37);
    for (let i = 0; i < a.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = new Uint8Array(a);
        b[i] = b[i]! ^ (1 << bit);
        expect(constantTimeEqual(a, b), `byte ${i} bit ${bit}`).toBe(false);
        expect(constantTimeEqual(b, a), `byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it('agrees with Buffer.equals on arbitrary inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(constantTimeEqual(a, new Uint8Array(a))).toBe(true);
      }),
    );
  });
});

describe('hex', () => {
  it('rejects odd-length strings', () => {
    for (const text of ['0', 'abc', '00112', 'f']) expect(() => hexDecode(text), text).toThrow(TypeError);
  });

  it('rejects non-hex characters and prefixes', () => {
    for (const text of ['zz', '0x00', '0g', ' 00', '00 ', '-1', '+1']) expect(() => hexDecode(text), text).toThrow(TypeError);
  });

  it('decodes both cases, encodes lower case, and round-trips any bytes', () => {
    expect(Array.from(hexDecode(''))).toEqual([]);
    expect(Array.from(hexDecode('00ff7Fa0'))).toEqual([0x00, 0xff, 0x7f, 0xa0]);
    expect(hexEncode(Uint8Array.from([0x00, 0xff, 0x7f, 0xa0]))).toBe('00ff7fa0');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (bytes) => {
        const text = hexEncode(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('hex'));
        expect(Array.from(hexDecode(text))).toEqual(Array.from(bytes));
        expect(Array.from(hexDecode(text.toUpperCase()))).toEqual(Array.from(bytes));
      }),
    );
  });
});

describe('utf8 and concatBytes', () => {
  it('utf8Decode throws on malformed UTF-8 instead of substituting U+FFFD', () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80]]) {
      expect(() => utf8Decode(Uint8Array.from(bad)), JSON.stringify(bad)).toThrow();
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(utf8Decode(utf8Encode(s))).toBe(s);
      }),
    );
  });

  it('concatBytes joins parts in order into a fresh buffer', () => {
    const a = Uint8Array.from([1, 2]);
    const out = concatBytes(a, new Uint8Array(0), Uint8Array.from([3]));
    expect(Array.from(out)).toEqual([1, 2, 3]);
    out[0] = 9;
    expect(a[0]).toBe(1);
  });
});
