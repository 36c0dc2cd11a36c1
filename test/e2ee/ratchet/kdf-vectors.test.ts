/**
 * Known-answer tests for the ratchet's three KDFs (Double Ratchet spec §5.2) with our labels, recomputed
 * here directly from @noble/hashes and @noble/ciphers so the pinned values (also printed in
 * docs/PROTOCOL.md §16 for independent implementations) are checked two ways.
 * Inputs: rk = 0x00..0x1f, dh_out = 0x20..0x3f, ck = 0x40..0x5f, mk = 0x60..0x7f, plaintext "hello",
 * AD = 0xaa * 132, header = 0x01 || 0x11 * 32 || PN 0 || N 0.
 */
import { cbc } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, hexEncode, utf8Encode } from '../../../src/crypto/bytes.js';
import { kdfChainKey } from '../../../src/e2ee/ratchet/chain-key.js';
import { encodeHeader } from '../../../src/e2ee/ratchet/header.js';
import { decryptWithMessageKey, encryptWithMessageKey } from '../../../src/e2ee/ratchet/message-cipher.js';
import { kdfRootKey } from '../../../src/e2ee/ratchet/root-key.js';

const seq = (start: number, length = 32) => Uint8Array.from({ length }, (_, i) => start + i);

describe('ratchet KDF known answers', () => {
  it('KDF_RK = HKDF-SHA-256(salt = rk, IKM = dh_out, info "e2ee-chat_DoubleRatchet_RootChain_v1", 64)', () => {
    const out = kdfRootKey(seq(0), seq(0x20));
    const ref = hkdf(sha256, seq(0x20), seq(0), utf8Encode('e2ee-chat_DoubleRatchet_RootChain_v1'), 64);
    expect(hexEncode(out.rootKey) + hexEncode(out.chainKey)).toBe(hexEncode(ref));
    expect(hexEncode(out.rootKey)).toBe(PINNED.rootKey);
    expect(hexEncode(out.chainKey)).toBe(PINNED.chainKey);
  });

  it('KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02)', () => {
    const out = kdfChainKey(seq(0x40));
    expect(hexEncode(out.messageKey)).toBe(hexEncode(hmac(sha256, seq(0x40), Uint8Array.of(1))));
    expect(hexEncode(out.chainKey)).toBe(hexEncode(hmac(sha256, seq(0x40), Uint8Array.of(2))));
    expect(hexEncode(out.messageKey)).toBe(PINNED.messageKey);
    expect(hexEncode(out.chainKey)).toBe(PINNED.nextChainKey);
  });

  it('ENCRYPT = AES-256-CBC(PKCS#7) under HKDF(mk, zero salt, "e2ee-chat_DoubleRatchet_MessageKeys_v1", 80) with a full HMAC-SHA-256 tag', () => {
    const ad = concatBytes(new Uint8Array(132).fill(0xaa), encodeHeader({ dh: new Uint8Array(32).fill(0x11), pn: 0, n: 0 }));
    const body = encryptWithMessageKey(seq(0x60), utf8Encode('hello'), ad);
    const okm = hkdf(sha256, seq(0x60), new Uint8Array(32), utf8Encode('e2ee-chat_DoubleRatchet_MessageKeys_v1'), 80);
    const ct = cbc(okm.slice(0, 32), okm.slice(64, 80)).encrypt(utf8Encode('hello'));
    const tag = hmac(sha256, okm.slice(32, 64), concatBytes(ad, ct));
    expect(hexEncode(body)).toBe(hexEncode(concatBytes(ct, tag)));
    expect(hexEncode(body)).toBe(PINNED.encrypted);
    expect(new TextDecoder().decode(decryptWithMessageKey(seq(0x60), body, ad))).toBe('hello');
  });
});

const PINNED = {
  rootKey: '2e2c10466cc3ae42ec2dd087f6684a084d60843f11eb5a8e9ecd5bb232da9592',
  chainKey: '4cf3442059ff25a5b0821b36006ebeafa2feefa82df0cd123575d3b605d0b773',
  messageKey: '01156abd78ef59f755f1e6945e5d1e2d7ddd1f1e5fe0a164b2f5fa8ad500bfba',
  nextChainKey: 'f0bdefbbad3cf097dccb03f2c87159f7608e2480543eef7741c8f2e7f226e78f',
  encrypted: '4a5f76eaa18fb975c5e57ac415e7c7f94cc4bae00d4c314cfa0ec833722285a668bff02ef3518041c0ad471f2f01641f',
};
