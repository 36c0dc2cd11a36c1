/**
 * A file the user picked (a browser File) as an attachment source: read in slices, one at a time, so
 * the page never holds the whole file (the upload encrypts and sends a chunk while the next is read).
 * `open` starts again from the first byte for a resumed upload; File.slice reads the file anew each time.
 */
import { ChatError, type AttachmentSource } from '../../src/client/index.js';

/** Bytes read per slice: large enough for throughput, small beside any chunk the upload sends. */
export const FILE_SLICE_BYTES = 1024 * 1024;

export function browserFileSource(file: File): AttachmentSource {
  return {
    size: file.size,
    name: file.name,
    ...(file.type !== '' && { contentType: file.type }),
    async *open() {
      for (let offset = 0; offset < file.size; offset += FILE_SLICE_BYTES) {
        let slice: ArrayBuffer;
        try {
          slice = await file.slice(offset, Math.min(file.size, offset + FILE_SLICE_BYTES)).arrayBuffer();
        } catch (cause) {
          // Chromium refuses to read a picked file that changed (or went away) on disk since it was picked.
          throw new ChatError('file_unreadable', `${file.name} could not be read (changed or removed since it was chosen)`, { cause });
        }
        yield new Uint8Array(slice);
      }
    },
  };
}
