/**
 * The client library's Node.js entry (package.json "exports", condition "node"): everything of the
 * runtime-neutral entry, plus the durable stores the CLI uses and `installNodeCrypto`.
 *
 * Importing this module changes nothing. A program chooses its primitives' implementation once, at its
 * start, by calling `installNodeCrypto()`: node:crypto for X25519, Ed25519, HMAC, HKDF and AES-CBC
 * (src/crypto/native.ts says how much faster) and liboqs for ML-KEM-1024 (src/crypto/mlkem-liboqs.ts).
 * Without the call the library runs on WebCrypto and @noble, computing the same results more slowly.
 */
export { installNodeCrypto } from '../../crypto/node/node-crypto.js';
export * from '../index.js';
export { FilePeerKeyStore } from './file-stores.js';
export { FileTriedLinkCodes } from './tried-link-codes-file.js';
export { DownloadFolder, fileSource } from './attachment-files.js';
export { nodeBlobHttp } from './node-blob-http.js';
export { SqliteMessageStore } from './sqlite-message-store.js';
export { SqliteRatchetStore } from './sqlite-ratchet-store.js';
export { SqliteGroupStore } from './sqlite-group-store.js';
