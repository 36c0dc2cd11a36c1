/**
 * The length of a state's pickle (JSON text of pickleRatchetState, pickle.ts), computed from field
 * lengths without exporting any secret: session records cap their archived states by it
 * (MAX_ARCHIVED_STATES_BYTES). test/e2ee/ratchet/bounds.test.ts checks it against the real pickle.
 */
import { ratchetFields, type RatchetState } from './state.js';

/** Unpadded base64url length of `n` bytes. */
const base64Length = (n: number): number => Math.ceil((n * 4) / 3);
const placeholder = (bytes: Uint8Array | undefined): string | null => (bytes === undefined ? null : 'x'.repeat(base64Length(bytes.length)));

export function pickledStateSize(state: RatchetState): number {
  const f = ratchetFields(state);
  // Same fields as pickleRatchetState, with strings of the right lengths in place of the key material.
  const fixed = JSON.stringify({
    v: 1,
    dhs: { publicKey: placeholder(f.dhs.publicKey), secretKey: 'x'.repeat(base64Length(32)) },
    dhr: placeholder(f.dhr),
    rk: placeholder(f.rk),
    cks: placeholder(f.cks),
    ckr: placeholder(f.ckr),
    ns: f.ns,
    nr: f.nr,
    pn: f.pn,
    skipped: [],
    ad: placeholder(f.ad),
    baseKey: placeholder(f.baseKey),
    pendingPreKey: placeholder(f.pendingPreKey),
  }).length;
  let skipped = 0;
  // Each entry is ["<dh>",<n>,"<mk>"]: brackets, 4 quotes and 2 commas around the three values; entries are comma-separated.
  for (const k of f.skipped.values()) skipped += 8 + base64Length(k.dh.length) + String(k.n).length + base64Length(k.messageKey.length);
  return fixed + skipped + Math.max(0, f.skipped.size - 1);
}
