/**
 * `blob.create` (docs/PROTOCOL.md §20.3): an authenticated user declares a blob (its length, and how
 * many complete fetches end it) and gets its id and two capabilities. Over the socket because HTTP
 * carries no login: this is where the server learns who owns the bytes, for quotas.
 */
import { ChatError } from '../../protocol/errors.js';
import type { ConnectionState, HandlerTable } from '../connection.js';
import type { BlobStore } from './blob-store.js';

export interface BlobServiceDeps {
  /** The store, or its opening (the server answers events while it reads its folder). */
  store: BlobStore | Promise<BlobStore>;
  /** The longest blob accepted: refused before the rate limit, which it does not charge. */
  maxBlobBytes: number;
  /** Token bucket per user: false means refuse. */
  allowCreate(username: string): boolean | Promise<boolean>;
}

function signedInUser(conn: ConnectionState): string {
  // The dispatcher lets only logged-in connections reach this handler; this keeps the types honest.
  if (conn.username === null) throw new ChatError('not_authenticated', 'log in first');
  return conn.username;
}

export function blobHandlers({ store, maxBlobBytes, allowCreate }: BlobServiceDeps): Pick<HandlerTable, 'blob.create'> {
  return {
    'blob.create': {
      run: async (conn, p) => {
        const owner = signedInUser(conn);
        if (p.size > maxBlobBytes) throw new ChatError('attachment_too_large', `a blob of ${p.size} bytes is over this server's limit of ${maxBlobBytes}`);
        if (!(await allowCreate(owner))) throw new ChatError('rate_limited', 'too many blob.create; try again later');
        return (await store).create(owner, p.size, p.downloads);
      },
    },
  };
}
