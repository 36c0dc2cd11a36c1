/**
 * Versioned persistence ("pickle", after vodozemac) of ratchet states and session records: plain
 * JSON-safe objects with `v: 1`, bytes as base64url. Loading validates every field and ignores unknown
 * ones, so later versions may add fields. Pickles hold secrets: the client store must encrypt them at rest
 * (src/crypto/passphrase-seal.ts); the live objects never serialise their secrets themselves.
 */
import { base64urlDecode, base64urlEncode, type Bytes } from '../../crypto/bytes.js';
import { X25519KeyPair } from '../../crypto/x25519.js';
import { MAX_ARCHIVED_STATES_IN_PICKLE, MAX_COUNTER, MAX_STORED_SKIPPED_KEYS } from './constants.js';
import { SessionRecord } from './session-record.js';
import { RatchetState, ratchetFields, skippedKeyId, type SkippedKey } from './state.js';

export interface RatchetStatePickle {
  readonly v: 1;
  readonly dhs: { readonly publicKey: string; readonly secretKey: string };
  readonly dhr: string | null;
  readonly rk: string;
  readonly cks: string | null;
  readonly ckr: string | null;
  readonly ns: number;
  readonly nr: number;
  readonly pn: number;
  /** [dh, n, messageKey], oldest first. */
  readonly skipped: readonly (readonly [string, number, string])[];
  readonly ad: string;
  readonly baseKey: string;
  readonly pendingPreKey: string | null;
}

export interface SessionRecordPickle {
  readonly v: 1;
  readonly current: RatchetStatePickle | null;
  readonly previous: readonly RatchetStatePickle[];
}

const b64 = base64urlEncode;
const opt = (b: Bytes | undefined) => (b === undefined ? null : b64(b));

/** The keys of one chain share its ratchet key: encoded once per chain (a record holds up to 3000 keys, saved per message). */
function pickleSkipped(skipped: ReadonlyMap<string, SkippedKey>): RatchetStatePickle['skipped'] {
  const dhText = new Map<Uint8Array, string>();
  return [...skipped.values()].map((k) => {
    let dh = dhText.get(k.dh);
    if (dh === undefined) dhText.set(k.dh, (dh = b64(k.dh)));
    return [dh, k.n, b64(k.messageKey)] as const;
  });
}

export function pickleRatchetState(state: RatchetState): RatchetStatePickle {
  const f = ratchetFields(state);
  return {
    v: 1,
    dhs: { publicKey: b64(f.dhs.publicKey), secretKey: b64(f.dhs.exportSecretKey()) },
    dhr: opt(f.dhr),
    rk: b64(f.rk),
    cks: opt(f.cks),
    ckr: opt(f.ckr),
    ns: f.ns,
    nr: f.nr,
    pn: f.pn,
    skipped: pickleSkipped(f.skipped),
    ad: b64(f.ad),
    baseKey: b64(f.baseKey),
    pendingPreKey: opt(f.pendingPreKey),
  };
}

function bytes(value: unknown, name: string, length?: number): Bytes {
  if (typeof value !== 'string') throw new TypeError(`pickle field "${name}" is not a string`);
  const out = base64urlDecode(value);
  if (length !== undefined && out.length !== length) throw new TypeError(`pickle field "${name}" has the wrong length`);
  return out;
}

function counter(value: unknown, name: string): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_COUNTER) throw new TypeError(`pickle field "${name}" is not a counter`);
  return value as number;
}

const nullable = <T>(value: unknown, read: (v: unknown) => T): T | undefined => (value === null ? undefined : read(value));

export function unpickleRatchetState(input: unknown): RatchetState {
  if (typeof input !== 'object' || input === null) throw new TypeError('ratchet pickle is not an object');
  const p = input as Record<string, unknown>;
  if (p.v !== 1) throw new TypeError(`unsupported ratchet pickle version ${String(p.v)}`);
  const dhs = p.dhs as Record<string, unknown> | undefined;
  if (typeof dhs !== 'object' || dhs === null) throw new TypeError('pickle field "dhs" is missing');
  if (!Array.isArray(p.skipped) || p.skipped.length > MAX_STORED_SKIPPED_KEYS) throw new TypeError('pickle field "skipped" is invalid');
  const skipped = new Map<string, SkippedKey>();
  // Keys of one chain repeat its ratchet key: decoded once, and the entries share the bytes (never written in place).
  const dhBytes = new Map<unknown, Bytes>();
  for (const entry of p.skipped as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 3) throw new TypeError('pickle skipped entry is invalid');
    let dh = dhBytes.get(entry[0]);
    if (dh === undefined) dhBytes.set(entry[0], (dh = bytes(entry[0], 'skipped.dh', 32)));
    const key: SkippedKey = { dh, n: counter(entry[1], 'skipped.n'), messageKey: bytes(entry[2], 'skipped.mk', 32) };
    skipped.set(skippedKeyId(key.dh, key.n), key);
  }
  return new RatchetState({
    dhs: X25519KeyPair.restore(bytes(dhs.secretKey, 'dhs.secretKey', 32), bytes(dhs.publicKey, 'dhs.publicKey', 32)),
    dhr: nullable(p.dhr, (v) => bytes(v, 'dhr', 32)),
    rk: bytes(p.rk, 'rk', 32),
    cks: nullable(p.cks, (v) => bytes(v, 'cks', 32)),
    ckr: nullable(p.ckr, (v) => bytes(v, 'ckr', 32)),
    ns: counter(p.ns, 'ns'),
    nr: counter(p.nr, 'nr'),
    pn: counter(p.pn, 'pn'),
    skipped,
    ad: bytes(p.ad, 'ad'),
    baseKey: bytes(p.baseKey, 'baseKey', 32),
    pendingPreKey: nullable(p.pendingPreKey, (v) => bytes(v, 'pendingPreKey')),
  });
}

export function pickleSessionRecord(record: SessionRecord): SessionRecordPickle {
  return {
    v: 1,
    current: record.current ? pickleRatchetState(record.current) : null,
    previous: record.previous.map(pickleRatchetState),
  };
}

export function unpickleSessionRecord(input: unknown): SessionRecord {
  if (typeof input !== 'object' || input === null) throw new TypeError('session pickle is not an object');
  const p = input as Record<string, unknown>;
  if (p.v !== 1) throw new TypeError(`unsupported session pickle version ${String(p.v)}`);
  if (!Array.isArray(p.previous) || p.previous.length > MAX_ARCHIVED_STATES_IN_PICKLE) throw new TypeError('pickle field "previous" is invalid');
  // The record trims what exceeds today's limits (an older client kept more): saved again, it is smaller.
  return new SessionRecord(p.current === null ? undefined : unpickleRatchetState(p.current), p.previous.map(unpickleRatchetState));
}
