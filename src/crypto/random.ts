/**
 * The randomness source protocol code receives instead of reaching for a global (libsignal style), so
 * tests can make key generation deterministic. The default is the platform CSPRNG
 * (crypto.getRandomValues, W3C WebCrypto §10.1.1).
 */
import { randomBytes, type Bytes } from './bytes.js';

/** Returns `length` fresh random bytes. Must be a CSPRNG outside tests. */
export type RandomSource = (length: number) => Bytes;

export const defaultRandom: RandomSource = randomBytes;

/** Milliseconds since the Unix epoch; injected like the RNG. */
export type Clock = () => number;

export const defaultClock: Clock = () => Date.now();
