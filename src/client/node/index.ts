/**
 * The client library's Node.js entry (package.json "exports", condition "node"): everything of the
 * runtime-neutral entry, with node:crypto installed for X25519 and Ed25519 (faster than WebCrypto's
 * asynchronous jobs and pure JS; src/crypto/native.ts), plus the durable stores the CLI uses.
 */
import { installNodeCrypto } from '../../crypto/node/node-crypto.js';

installNodeCrypto();

export * from '../index.js';
export { FilePeerKeyStore } from './file-stores.js';
export { SqliteMessageStore } from './sqlite-message-store.js';
export { SqliteRatchetStore } from './sqlite-ratchet-store.js';
