/**
 * The blob store that goes with the server store: blobs live where the rest of the server's state
 * lives. On PostgreSQL that is the database every node shares, so a file uploaded through one node is
 * downloaded through any other (docs/DEPLOY.md); on SQLite (or in memory) it is the node's disk, as
 * before. No setting of its own: disk blobs beside a shared database would bring back the one-node limit
 * for files, and a database beside a single node's SQLite would add a service for nothing.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import { PostgresServerStore } from '../store/postgres-store.js';
import type { ServerStore } from '../store/server-store.js';
import type { BlobLimits, BlobStore } from './blob-store.js';
import { DiskBlobStore } from './disk-blob-store.js';
import { PostgresBlobStore } from './postgres-blob-store.js';

/** Opened (what expired swept) before the server listens. */
export function openBlobStore(config: ServerConfig, store: ServerStore, maxBlobBytes: number, logger: Logger): Promise<BlobStore> {
  const limits: BlobLimits = {
    maxBlobBytes,
    userMaxBytes: config.blobUserMaxBytes,
    userMaxCount: config.blobUserMaxCount,
    serverMaxBytes: config.blobServerMaxBytes,
    ttlMs: config.queueTtlMs,
    uploadIdleMs: config.blobUploadIdleMs,
    logger,
  };
  if (store instanceof PostgresServerStore) return PostgresBlobStore.open({ ...limits, pool: store.pool });
  return DiskBlobStore.open({ ...limits, dir: config.blobDir ?? join(config.dataDir, 'blobs') });
}
