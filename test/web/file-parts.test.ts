/**
 * The web app's file parts that need no browser to check (Node 20 has File, Blob and object URLs): the
 * source reads a picked file in slices and again from the start, the sink keeps each piece as it was
 * when written and offers only committed files, and a too-large file is refused in plain words.
 */
import { resolveObjectURL } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ChatError, DecryptionFailedError } from '../../src/client/index.js';
import { BlobSink } from '../../web/src/file-sink.js';
import { browserFileSource, FILE_SLICE_BYTES } from '../../web/src/file-source.js';
import { downloadProblem, uploadProblem } from '../../web/src/file-transfers.js';

function bytesOf(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Byte equality without a deep comparison (element by element, slow for megabytes). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

async function readAll(pieces: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array; sizes: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const p of pieces) parts.push(p);
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, sizes: parts.map((p) => p.length) };
}

describe('a picked file as an attachment source', () => {
  it('is read in slices of at most FILE_SLICE_BYTES, whole, and again from its first byte on each open', async () => {
    const content = bytesOf(2 * FILE_SLICE_BYTES + 12_345);
    const source = browserFileSource(new File([content], 'data.bin', { type: 'application/x-test' }));
    expect(source).toMatchObject({ size: content.length, name: 'data.bin', contentType: 'application/x-test' });
    const first = await readAll(source.open());
    expect(first.sizes).toEqual([FILE_SLICE_BYTES, FILE_SLICE_BYTES, 12_345]);
    expect(same(first.bytes, content)).toBe(true);
    expect(same((await readAll(source.open())).bytes, content)).toBe(true);
  });

  it('an empty file yields nothing, and a file without a type names none', async () => {
    const source = browserFileSource(new File([], 'empty'));
    expect(source.contentType).toBeUndefined();
    expect((await readAll(source.open())).sizes).toEqual([]);
  });
});

describe('the sink a download decrypts into', () => {
  it('keeps each piece as it was when written (the caller may reuse its buffer) and commits one octet-stream file', async () => {
    const sink = new BlobSink();
    const buffer = new Uint8Array([1, 2, 3]);
    await sink.write(buffer);
    buffer.set([9, 9, 9]);
    await sink.write(buffer);
    const url = await sink.commit();
    expect(url).toMatch(/^blob:/);
    const blob = resolveObjectURL(url)!;
    // Whatever type the sender named: a blob: URL is this page's origin, and must never render as a page.
    expect(blob.type).toBe('application/octet-stream');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 9, 9, 9]));
    URL.revokeObjectURL(url);
  });

  it('an aborted download leaves nothing: a commit after it is an empty file', async () => {
    const sink = new BlobSink();
    await sink.write(new Uint8Array([1, 2, 3]));
    await sink.abort();
    const url = await sink.commit();
    expect(resolveObjectURL(url)!.size).toBe(0);
    URL.revokeObjectURL(url);
  });
});

describe('file problems in words', () => {
  it('a file over the limit names both sizes and says nothing was sent', () => {
    const err = new ChatError('attachment_too_large', 'too large');
    expect(uploadProblem({ name: 'video.mp4', size: 150 * 1024 * 1024 }, err, 100 * 1024 * 1024)).toBe('video.mp4 is 150 MiB; this server takes files of at most 100 MiB. Nothing was sent.');
  });

  it('a failed integrity check says nothing was saved, with the name made safe to show', () => {
    expect(downloadProblem({ name: 'evil\u202egnp.exe', size: 2048 }, new DecryptionFailedError())).toBe('evil_gnp.exe (2 KiB) failed its integrity check (changed on the way, or not what the sender sent): nothing was saved.');
  });
});
