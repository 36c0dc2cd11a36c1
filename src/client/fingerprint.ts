/** Human-readable key fingerprints: the RFC 7638 SHA-256 thumbprint as hex, in groups of four. */
import { base64urlDecode, hexEncode } from '../crypto/bytes.js';
import { jwkThumbprint } from '../crypto/keys.js';

export function formatFingerprint(thumbprint: string): string {
  return hexEncode(base64urlDecode(thumbprint)).match(/.{4}/g)!.join(' ');
}

/** The first four groups of an Ed25519 key's fingerprint: what both devices of a link show, to compare. */
export async function shortKeyFingerprint(signingKeyX: string): Promise<string> {
  return formatFingerprint(await jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: signingKeyX })).split(' ').slice(0, 4).join(' ');
}
