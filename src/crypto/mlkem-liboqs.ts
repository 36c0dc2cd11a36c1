/**
 * ML-KEM-1024 through Open Quantum Safe's liboqs compiled to WebAssembly (@oqs/liboqs-js 0.15.1, MIT):
 * ~0.07 ms per operation here against ~0.65 ms for @noble/post-quantum, and session setup runs one
 * encapsulation and one decapsulation per device (docs/PROTOCOL.md §16.6). Opt-in: the Node entry points
 * install it (node/node-crypto.ts); the runtime-neutral core never imports this file, so a browser build
 * carries no WebAssembly unless it installs this itself (the package runs in browsers too).
 *
 * Our keys come from a 64-byte seed d || z drawn from an injected RandomSource (FIPS 203 Algorithm 16),
 * and the encapsulation randomness m from one too (Algorithm 17), so that tests and known answers are
 * deterministic. liboqs-js exposes only the randomized calls (OQS_KEM_keypair, OQS_KEM_encaps), which draw
 * d || z (64 bytes) and m (32 bytes) with ONE call each to the module's entropy import and then run the
 * derandomized algorithm. We therefore wrap that import when the module is instantiated and hand it the
 * bytes we chose: the exact call pattern is checked on every operation (all bytes consumed, no request
 * beyond them, no request when none is expected), so a liboqs build that draws randomness differently
 * fails loudly instead of producing keys unrelated to the seed. The Wycheproof keygen and encaps files
 * pin the outputs (test/crypto/mlkem.test.ts).
 *
 * Key formats are FIPS 203's, as with noble: encapsulation key 1568 bytes, decapsulation key the 3168-byte
 * expanded form dk_PKE || ek || H(ek) || z (Algorithm 16 step 3), so keys stored by either implementation
 * open with the other.
 */
import { createMLKEM1024, type MLKEM1024 } from '@oqs/liboqs-js/kem';
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import type { Bytes } from './bytes.js';
import { MLKEM1024_ENCAPS_RANDOMNESS_LENGTH, MLKEM1024_SEED_LENGTH, type MlKem1024Implementation } from './mlkem.js';

type EntropyImport = (pointer: number, length: number) => number;

/**
 * The one instantiation in flight through loadLibOqsMlKem1024 (the loader is serialised, see `loading`).
 * WebAssembly.instantiate is wrapped only for the duration of that call: the Emscripten glue inside
 * liboqs-js offers no other way to reach its imports (its `instantiateWasm` hook needs the module bytes,
 * which are embedded in the glue, and createMLKEM1024 passes no options).
 */
interface Capture {
  memory?: WebAssembly.Memory;
  pending?: Uint8Array;
}

/** Emscripten's minified import object: module "a", the entropy function (getentropy) under "c". */
function entropyImportOf(imports: unknown): { holder: Record<string, unknown>; inner: EntropyImport } | undefined {
  const holder = (imports as { a?: Record<string, unknown> } | undefined)?.a;
  const inner = holder?.c;
  return holder && typeof inner === 'function' ? { holder, inner: inner as EntropyImport } : undefined;
}

async function instantiateCapturing(capture: Capture): Promise<MLKEM1024> {
  const original = WebAssembly.instantiate;
  const wrapped = async function (this: unknown, source: BufferSource | WebAssembly.Module, imports?: WebAssembly.Imports) {
    const entropy = entropyImportOf(imports);
    if (entropy && !capture.memory) {
      // A copy of the import object: nothing is changed for any other module instantiated meanwhile.
      const replaced: EntropyImport = (pointer, length) => {
        const pending = capture.pending;
        if (!pending || length > pending.length || !capture.memory) {
          throw new Error('liboqs requested randomness that was not provided');
        }
        new Uint8Array(capture.memory.buffer, pointer, length).set(pending.subarray(0, length));
        capture.pending = pending.subarray(length);
        return 0;
      };
      imports = { ...imports, a: { ...entropy.holder, c: replaced } };
    }
    const result = (await original.call(WebAssembly, source as BufferSource, imports)) as unknown as WebAssembly.WebAssemblyInstantiatedSource | WebAssembly.Instance;
    const instance = result instanceof WebAssembly.Instance ? result : result.instance;
    if (entropy && !capture.memory) capture.memory = Object.values(instance.exports).find((e): e is WebAssembly.Memory => e instanceof WebAssembly.Memory);
    return result;
  } as typeof WebAssembly.instantiate;
  WebAssembly.instantiate = wrapped;
  try {
    return await createMLKEM1024();
  } finally {
    if (WebAssembly.instantiate === wrapped) WebAssembly.instantiate = original;
  }
}

/** Runs `operation` with `randomness` as the only bytes liboqs may draw; all of them must be drawn. */
function withRandomness<T>(capture: Capture, randomness: Uint8Array, operation: () => T): T {
  capture.pending = randomness;
  try {
    const result = operation();
    if (capture.pending.length !== 0) throw new Error('liboqs did not draw the randomness provided');
    return result;
  } finally {
    capture.pending = undefined;
  }
}

function bytes(value: Uint8Array): Bytes {
  return value as Bytes;
}

function implementation(kem: MLKEM1024, capture: Capture): MlKem1024Implementation {
  return {
    name: 'liboqs 0.15 (WebAssembly)',
    keyPairFromSeed(seed) {
      const { publicKey, secretKey } = withRandomness(capture, seed, () => kem.generateKeyPair());
      return { publicKey: bytes(publicKey), secretKey: bytes(secretKey) };
    },
    encapsulate(publicKey, m) {
      const { ciphertext, sharedSecret } = withRandomness(capture, m, () => kem.encapsulate(publicKey));
      return { ciphertext: bytes(ciphertext), sharedSecret: bytes(sharedSecret) };
    },
    decapsulate(ciphertext, secretKey) {
      // Decapsulation is deterministic (FIPS 203 Algorithm 18): any request for randomness is an error.
      return bytes(withRandomness(capture, new Uint8Array(0), () => kem.decapsulate(ciphertext, secretKey)));
    },
  };
}

/**
 * Checks the loaded module against @noble/post-quantum on a fixed seed and message before it is used:
 * a liboqs build that drew its randomness differently, or computed something else, is refused here.
 */
function selfTest(candidate: MlKem1024Implementation): void {
  const seed = new Uint8Array(MLKEM1024_SEED_LENGTH).map((_, i) => i);
  const m = new Uint8Array(MLKEM1024_ENCAPS_RANDOMNESS_LENGTH).map((_, i) => 0xa0 + i);
  const reference = ml_kem1024.keygen(seed);
  const ours = candidate.keyPairFromSeed(seed);
  const expected = ml_kem1024.encapsulate(reference.publicKey, m);
  const encapsulated = candidate.encapsulate(reference.publicKey, m);
  const opened = candidate.decapsulate(expected.cipherText, reference.secretKey);
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(ours.publicKey, reference.publicKey) || !same(ours.secretKey, reference.secretKey) || !same(encapsulated.ciphertext, expected.cipherText) || !same(encapsulated.sharedSecret, expected.sharedSecret) || !same(opened, expected.sharedSecret)) {
    throw new Error('liboqs ML-KEM-1024 disagrees with @noble/post-quantum on the self-test');
  }
}

let loading: Promise<MlKem1024Implementation> | undefined;

/**
 * Instantiates liboqs's ML-KEM-1024 once per process (later calls share the result) and self-tests it.
 * Rejects if the WebAssembly module cannot be loaded or fails the self-test.
 */
export function loadLibOqsMlKem1024(): Promise<MlKem1024Implementation> {
  loading ??= (async () => {
    const capture: Capture = {};
    const kem = await instantiateCapturing(capture);
    if (!capture.memory) throw new Error('liboqs ML-KEM-1024: its entropy import could not be reached');
    const candidate = implementation(kem, capture);
    selfTest(candidate);
    return candidate;
  })();
  return loading;
}
