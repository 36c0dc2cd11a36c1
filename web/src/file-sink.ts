/**
 * Where a received file goes in the page while the library checks it: the decrypted pieces are gathered
 * as Blob parts (the browser may keep them out of the JavaScript heap), and only a committed download
 * (every check of the blob passed) becomes a Blob and an object URL to save it from. An aborted one
 * drops what it gathered.
 *
 * The Blob is always `application/octet-stream`, whatever type the sender named: a blob: URL belongs to
 * this page's origin, and a file typed as HTML or SVG that someone opened in a tab would run there.
 */
import type { AttachmentSink } from '../../src/client/index.js';

export class BlobSink implements AttachmentSink {
  private parts: Blob[] = [];

  async write(bytes: Uint8Array): Promise<void> {
    // The library may reuse the piece's buffer for the next one: the Blob copies it now.
    this.parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  }

  /** The object URL of the whole file; the caller revokes it (URL.revokeObjectURL) when it is no longer offered. */
  async commit(): Promise<string> {
    const file = new Blob(this.parts, { type: 'application/octet-stream' });
    this.parts = [];
    return URL.createObjectURL(file);
  }

  async abort(): Promise<void> {
    this.parts = [];
  }
}
