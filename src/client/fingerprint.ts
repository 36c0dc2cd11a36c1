/** Human-readable key fingerprints: the RFC 7638 SHA-256 thumbprint as hex, in groups of four. */
import { base64urlDecode, hexEncode } from '../crypto/bytes.js';

export function formatFingerprint(thumbprint: string): string {
  return hexEncode(base64urlDecode(thumbprint)).match(/.{4}/g)!.join(' ');
}
