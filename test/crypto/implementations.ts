/**
 * The implementations behind src/crypto's primitives: the portable one (@noble/*, and WebCrypto where
 * x25519.ts prefers it) and the native one the Node entry points install (src/crypto/native.ts, and
 * liboqs's WebAssembly ML-KEM-1024 from src/crypto/mlkem-liboqs.ts). Vector tests run once per entry, so
 * that both pass the same files.
 */
import { afterAll } from 'vitest';
import { installMlKem1024, nobleMlKem1024 } from '../../src/crypto/mlkem.js';
import { loadLibOqsMlKem1024 } from '../../src/crypto/mlkem-liboqs.js';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';

/** liboqs's module, instantiated once for every test file that imports this one. */
export const liboqsMlKem1024 = await loadLibOqsMlKem1024();

export const IMPLEMENTATIONS = [
  {
    name: 'portable (@noble)',
    mlkem: nobleMlKem1024,
    install: () => {
      installNativeCrypto(undefined);
      installMlKem1024(undefined);
    },
  },
  {
    name: 'native (node:crypto, liboqs ML-KEM)',
    mlkem: liboqsMlKem1024,
    install: () => {
      installNativeCrypto(nodeCrypto);
      installMlKem1024(liboqsMlKem1024);
    },
  },
];

/** Leaves the process as a test file found it: no native implementation installed. */
export function uninstallNativeAfterAll(): void {
  afterAll(() => {
    installNativeCrypto(undefined);
    installMlKem1024(undefined);
  });
}
