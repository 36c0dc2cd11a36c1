/**
 * The client library's Node.js entry (package.json "exports", condition "node"): everything of the
 * runtime-neutral entry, with node:crypto installed for X25519 and Ed25519 (faster than WebCrypto's
 * asynchronous jobs and pure JS; src/crypto/native.ts) and liboqs for ML-KEM-1024 (src/crypto/mlkem-liboqs.ts), plus the durable stores the CLI uses.
 */
import { installNodeCrypto } from '../../crypto/node/node-crypto.js';

// Not awaited: ML-KEM runs on @noble until liboqs's WebAssembly is instantiated (why: node-crypto.ts).
void installNodeCrypto();

export * from '../index.js';
export { FilePeerKeyStore } from './file-stores.js';
export { FileTriedLinkCodes } from './tried-link-codes-file.js';
export { DownloadFolder, fileSource } from './attachment-files.js';
export { nodeBlobHttp } from './node-blob-http.js';
export { SqliteMessageStore } from './sqlite-message-store.js';
export { SqliteRatchetStore } from './sqlite-ratchet-store.js';
