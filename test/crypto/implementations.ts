/**
 * The implementations behind src/crypto's primitives: the portable one (@noble/*, and WebCrypto where
 * x25519.ts prefers it) and the native one the Node entry points install (src/crypto/native.ts). Vector
 * tests run once per entry, so that both pass the same files.
 */
import { afterAll } from 'vitest';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';

export const IMPLEMENTATIONS = [
  { name: 'portable (@noble)', install: () => installNativeCrypto(undefined) },
  { name: 'native (node:crypto)', install: () => installNativeCrypto(nodeCrypto) },
];

/** Leaves the process as a test file found it: no native implementation installed. */
export function uninstallNativeAfterAll(): void {
  afterAll(() => installNativeCrypto(undefined));
}
