/**
 * Builds the browser client (web/) into dist/web: static files the relay serves at `/` (src/server/web/).
 * Everything the page needs is bundled here, the client library included: the page loads nothing from
 * another origin, and its Content-Security-Policy (script-src 'self', style-src 'self') allows no inline
 * script or style, so the build must produce none.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // Preact's JSX through esbuild's automatic runtime: no Vite plugin needed.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  // mlkem's fallback for runtimes without globalThis.crypto (web/src/node-crypto-stand-in.ts says why).
  resolve: { alias: { crypto: fileURLToPath(new URL('./src/node-crypto-stand-in.ts', import.meta.url)) } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // Modern browsers only: every one that runs WebCrypto's Ed25519/X25519 also runs ES2022.
    target: 'es2022',
    // No data: URLs for small assets: everything is a file of its own, same origin.
    assetsInlineLimit: 0,
    // The polyfill would be an extra script; every targeted browser supports modulepreload.
    modulePreload: { polyfill: false },
    // Not shipped: the bundle is already readable enough to audit, and maps double the package.
    sourcemap: false,
    reportCompressedSize: false,
    rollupOptions: {
      onwarn(warning, warn) {
        // zod's sources carry /*@__PURE__*/ comments where Rollup cannot use them: it drops the comment
        // (a lost tree-shaking hint, nothing else). Every other warning is shown.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('/node_modules/zod/')) return;
        warn(warning);
      },
    },
  },
  server: {
    // `npm run web:dev`: the page comes from Vite, the relay (npm start) from port 5001 through the proxy.
    fs: { allow: [repoRoot] },
    proxy: {
      '/socket.io': { target: 'http://localhost:5001', ws: true },
      '/blobs': { target: 'http://localhost:5001' },
    },
  },
});
