/**
 * What the page gets for Node's `crypto` module. mlkem (under @hpke/hybridkem-x-wing, which the MLS
 * ciphersuite uses) falls back to `import("crypto")` only where `globalThis.crypto` is missing (Node 18
 * and older), which no browser this app runs in is; Vite would put an empty module there, and the build
 * test refuses any such stand-in (test/browser/web-build.test.ts). This one answers as Node would: the
 * page's WebCrypto.
 */
export const webcrypto: Crypto = globalThis.crypto;
