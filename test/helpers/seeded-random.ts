/** xorshift32: reproducible bytes for a RandomSource in tests (slot numbers the same on every run). */
export function seededRandom(seed: number): (n: number) => Uint8Array<ArrayBuffer> {
  let state = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out[i] = state & 0xff;
    }
    return out;
  };
}
