/**
 * Signal's attachment construction, streamed (src/crypto/attachment-cipher.ts), on both implementations.
 *
 * Known answers: computed outside this code base with the OpenSSL 3.0 command line, from the
 * construction as docs/PROTOCOL.md §20.2 writes it (the padded plaintext written with Python; then
 * `openssl enc -aes-256-cbc -K <key[0..32)> -iv <iv>`, `openssl dgst -sha256 -mac HMAC -macopt
 * hexkey:<key[32..64)>` over iv || ct, and `sha256sum` of iv || ct || mac). Inputs: key = bytes 00..3f,
 * iv = bytes a0..af.
 */
import { describe, expect, it } from 'vitest';
import {
  AttachmentEncryption,
  AttachmentIntegrityError,
  attachmentBlobLength,
  decryptAttachment,
  isBlobLength,
  maxAttachmentBlobLength,
  paddedAttachmentSize,
} from '../../src/crypto/attachment-cipher.js';
import { concatBytes, hexEncode, randomBytes, utf8Encode } from '../../src/crypto/bytes.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

uninstallNativeAfterAll();

const KEY = Uint8Array.from({ length: 64 }, (_, i) => i);
const IV = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  // Copied as they come: a piece may be reused by the next step.
  for await (const p of pieces) out.push(Uint8Array.from(p));
  return concatBytes(...out);
}

async function encrypt(file: Uint8Array, chunk = 4096, key = KEY, iv = IV): Promise<{ blob: Uint8Array; digest: Uint8Array }> {
  const enc = new AttachmentEncryption(file.length, key, iv);
  const blob = await collect(enc.blob(chunksOf(file, chunk)));
  expect(blob.length).toBe(enc.blobLength);
  return { blob, digest: enc.digest };
}

function decrypt(blob: Uint8Array, digest: Uint8Array, size: number, chunk = 4096, key = KEY): Promise<Uint8Array> {
  return collect(decryptAttachment(chunksOf(blob, chunk), { key, digest, size }));
}

describe('attachment sizes (Signal padding buckets)', () => {
  it('pads to max(541, floor(1.05^ceil(log_1.05 size))) and adds IV, PKCS#7 and MAC around it', () => {
    // The padded sizes, as Python's math computes Signal's formula.
    const cases: Array<[number, number, number]> = [
      [0, 541, 592],
      [1, 541, 592],
      [540, 541, 592],
      [541, 541, 592],
      [542, 568, 624],
      [1000, 1020, 1072],
      [10 * 2 ** 20, 10_835_458, 10_835_520],
      [100 * 2 ** 20, 107_335_738, 107_335_792],
      [100 * 2 ** 20 + 1, 107_335_738, 107_335_792],
    ];
    for (const [size, padded, blob] of cases) {
      expect(paddedAttachmentSize(size), `padded ${size}`).toBe(padded);
      expect(attachmentBlobLength(size), `blob ${size}`).toBe(blob);
      expect(isBlobLength(blob)).toBe(true);
      expect(maxAttachmentBlobLength(size)).toBeGreaterThanOrEqual(blob);
    }
    for (const bad of [0, 63, 65, 72, -1, 1.5]) expect(isBlobLength(bad), String(bad)).toBe(false);
    expect(isBlobLength(64)).toBe(true);
  });

  it('never pads below the size itself, and grows by at most 5 % past the 541-byte floor', () => {
    for (let size = 0; size < 5_000_000; size = Math.floor(size * 1.37) + 7) {
      const padded = paddedAttachmentSize(size);
      expect(padded).toBeGreaterThanOrEqual(size);
      expect(padded).toBeLessThanOrEqual(Math.max(541, size * 1.05));
    }
    expect(() => paddedAttachmentSize(-1)).toThrow(RangeError);
  });
});

describe.each(IMPLEMENTATIONS)('attachment cipher, $name', (impl) => {
  it('known answer: "hello, attachment" under key 00..3f and IV a0..af', async () => {
    impl.install();
    const { blob, digest } = await encrypt(utf8Encode('hello, attachment'), 5);
    expect(blob.length).toBe(592);
    expect(hexEncode(blob.subarray(0, 16))).toBe('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
    expect(hexEncode(blob.subarray(16, 32))).toBe('211abc841630c20d10e7c6055e73b4a3');
    expect(hexEncode(blob.subarray(544, 560))).toBe('e873e158de454a6cc54d5c5275a7758e');
    expect(hexEncode(blob.subarray(560))).toBe('48455269956fa6648b8e4b8228f4bf5a1115fb71a0a142b7dff1188c01af8b57');
    expect(hexEncode(digest)).toBe('a0530a14839e725e684f732629ff5f03b7401a7e145028a685ed5e64dbc24aeb');
    expect(new TextDecoder().decode(await decrypt(blob, digest, 17, 7))).toBe('hello, attachment');
  });

  it('known answers: an empty file, and 1,000 bytes (i mod 251) padded to 1,020', async () => {
    impl.install();
    const empty = await encrypt(new Uint8Array(0));
    expect(hexEncode(empty.digest)).toBe('e5e000907491ae9fe41a93d304b887365e37ae20497e765f09bc389fe924c434');
    expect(hexEncode(empty.blob.subarray(560))).toBe('ff9e0c7763cc2d9527b89200428c190d1d92f3e6afdf31bbe63ea94627e7afbe');
    expect(await decrypt(empty.blob, empty.digest, 0)).toEqual(new Uint8Array(0));
    const file = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const k = await encrypt(file, 333);
    expect(k.blob.length).toBe(1072);
    expect(hexEncode(k.digest)).toBe('1476d8e50d77853992580b7427228cfe4b2cb136cb73118788544ed7e9a6b456');
    expect(await decrypt(k.blob, k.digest, 1000, 1)).toEqual(file);
  });

  it('round trips files of 0, 1, 15, 16, 17 and 300,000 bytes whatever the piece sizes on either side', async () => {
    impl.install();
    const key = randomBytes(64);
    const iv = randomBytes(16);
    for (const size of [0, 1, 15, 16, 17, 300_000]) {
      const file = Uint8Array.from({ length: size }, (_, i) => (i * 131 + size) & 0xff);
      for (const [inChunk, outChunk] of [[1, 65_536], [4096, 1], [65_536, 31], [7, 7]] as const) {
        if (size > 20_000 && (inChunk < 100 || outChunk < 100)) continue; // byte-by-byte on 300 KB is slow, not more thorough
        const { blob, digest } = await encrypt(file, inChunk, key, iv);
        expect(await decrypt(blob, digest, size, outChunk, key), `size ${size}, pieces ${inChunk}/${outChunk}`).toEqual(file);
      }
    }
  });

  it('the same key and IV give the same blob byte for byte (what a resumed upload relies on)', async () => {
    impl.install();
    const file = randomBytes(50_000);
    const a = await encrypt(file, 1000);
    const b = await encrypt(file, 777);
    expect(hexEncode(a.blob)).toBe(hexEncode(b.blob));
    expect(hexEncode(a.digest)).toBe(hexEncode(b.digest));
  });

  it('refuses a blob with any byte flipped (IV, ciphertext, padding blocks, MAC), cut short, extended, or under another digest or size', async () => {
    impl.install();
    const file = randomBytes(2000);
    const { blob, digest } = await encrypt(file);
    const refusals: Array<[string, Uint8Array, Uint8Array, number]> = [];
    for (const at of [0, 15, 16, 100, blob.length - 33, blob.length - 32, blob.length - 1]) {
      const bad = Uint8Array.from(blob);
      bad[at]! ^= 0x01;
      refusals.push([`byte ${at} flipped`, bad, digest, 2000]);
    }
    refusals.push(['last block cut', blob.subarray(0, blob.length - 16), digest, 2000]);
    refusals.push(['MAC cut', blob.subarray(0, blob.length - 1), digest, 2000]);
    refusals.push(['a block appended', concatBytes(blob, new Uint8Array(16)), digest, 2000]);
    refusals.push(['only the IV', blob.subarray(0, 16), digest, 2000]);
    refusals.push(['empty', new Uint8Array(0), digest, 2000]);
    const otherDigest = Uint8Array.from(digest);
    otherDigest[31]! ^= 0x80;
    refusals.push(['another digest', blob, otherDigest, 2000]);
    // Announced larger than the padded plaintext: the blob is too short for it.
    refusals.push(['a size beyond the plaintext', blob, digest, 3000]);
    for (const [what, bad, d, size] of refusals) {
      await expect(decrypt(bad, d, size), what).rejects.toBeInstanceOf(AttachmentIntegrityError);
    }
  });

  it('checks the MAC even when the digest matches the tampered blob (a digest is not a key)', async () => {
    impl.install();
    const { blob } = await encrypt(randomBytes(100));
    const bad = Uint8Array.from(blob);
    bad[20]! ^= 0xff;
    const { sha256 } = await import('../../src/crypto/sha.js');
    await expect(decrypt(bad, sha256(bad), 100)).rejects.toBeInstanceOf(AttachmentIntegrityError);
  });

  it('stops reading a blob as soon as it passes the longest length its size allows (a server streaming without end)', async () => {
    impl.install();
    let served = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        served += 1024;
        yield new Uint8Array(1024);
      }
    }
    await expect(collect(decryptAttachment(endless(), { key: KEY, digest: new Uint8Array(32), size: 10 }))).rejects.toBeInstanceOf(AttachmentIntegrityError);
    expect(served).toBeLessThanOrEqual(maxAttachmentBlobLength(10) + 1024);
  });

  it('refuses a source that yields more or fewer bytes than the size it was announced with', async () => {
    impl.install();
    const longer = new AttachmentEncryption(10, KEY, IV);
    await expect(collect(longer.blob(chunksOf(new Uint8Array(11), 4)))).rejects.toThrow(/longer/);
    const shorter = new AttachmentEncryption(10, KEY, IV);
    await expect(collect(shorter.blob(chunksOf(new Uint8Array(9), 4)))).rejects.toThrow(/shorter/);
    expect(() => shorter.digest).toThrow();
  });

  it('keys, IVs and digests of the wrong length are refused before any work', async () => {
    impl.install();
    expect(() => new AttachmentEncryption(1, new Uint8Array(32), IV)).toThrow(RangeError);
    expect(() => new AttachmentEncryption(1, KEY, new Uint8Array(12))).toThrow(RangeError);
    await expect(decryptAttachment(chunksOf(new Uint8Array(64), 64), { key: KEY, digest: new Uint8Array(31), size: 0 }).next()).rejects.toThrow(RangeError);
  });
});
