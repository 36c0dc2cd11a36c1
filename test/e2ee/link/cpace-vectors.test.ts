/**
 * CPace CPACE-RISTR255-SHA512 (src/e2ee/link/cpace.ts) against the published vectors.
 *
 * Vector source: draft-irtf-cfrg-cpace-21, editor's copy github.com/cfrg/draft-irtf-cfrg-cpace at commit
 * 8fb4056 (draft-irtf-cfrg-cpace.md; the same values are in its testvectors.json under "G_Coffee25519"
 * and "G_Coffee25519_points"): Appendix A.1 (prepend_len, lv_cat), Appendix A.3 (transcript_ir) and
 * Appendix B.3, "Test vector for CPace using group ristretto255 and hash SHA-512". Values are copied as
 * printed there (hex). The draft gives no key-confirmation vector; ours (§10.4 with HMAC-SHA-512) is
 * recomputed here from @noble/hashes directly and pinned.
 */
import { ristretto255 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, hexDecode, hexEncode, utf8Encode } from '../../../src/crypto/bytes.js';
import {
  CPaceParty,
  CPACE_RISTRETTO255_DSI,
  calculateGenerator,
  confirmationTags,
  generatorString,
  intermediateSessionKey,
  lvCat,
  prependLen,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
  SHA512_BLOCK_BYTES,
  transcriptIr,
} from '../../../src/e2ee/link/cpace.js';
import { ChatError } from '../../../src/protocol/errors.js';

/** Appendix B.3 of draft 21 (ristretto255, SHA-512). */
const B3 = {
  PRS: utf8Encode('Password'),
  CI: hexDecode('0b415f696e69746961746f720b425f726573706f6e646572'),
  sid: hexDecode('7e4b4791d6a8ef019b936c79fb7f2c57'),
  generatorString:
    '11435061636552697374726574746f3235350850617373776f726464' +
    '00000000000000000000000000000000000000000000000000000000' +
    '00000000000000000000000000000000000000000000000000000000' +
    '00000000000000000000000000000000000000000000000000000000' +
    '00000000000000000000000000000000180b415f696e69746961746f' +
    '720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f' +
    '2c57',
  hash:
    'da6d3ddc8802fca9058755ffd3ebde08a9c2c74945901a258482a288' +
    'b6663af06bf645c93cd1c51512307199c80e84908916d983b34af772' +
    '05f90851a657ee27',
  g: '222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56',
  ADa: utf8Encode('ADa'),
  ya: 'da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08',
  Ya: 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157',
  ADb: utf8Encode('ADb'),
  yb: 'd2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d',
  Yb: '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258',
  K: '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f',
  transcriptIr:
    '20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0e' +
    'ec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa' +
    '8232b5ebe63324e2d9e7433f725803414462',
  iskInput:
    '15435061636552697374726574746f3235355f49534b107e4b4791d6' +
    'a8ef019b936c79fb7f2c572080b69a8a76457ab6a4d7f887a4bf6b55' +
    'a2f80ac19c333f917a05fc9887c8b40f20d6bac480f2c386c394efc7' +
    'c47adb9925dcd2630b64f240c50f8d0eec482b915703414461203ea7' +
    'e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f' +
    '725803414462',
  iskIr:
    'b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc' +
    'ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c' +
    '3fa2068af7900447',
  sidOutputIr:
    'bb1c449b35f0ea79a65c209f329a693d475e0ce2387bed9fe4b78f60' +
    'b2a27c219813fb2cfe175ef40d2222d9261e66da7d78f7c55a303b1b' +
    '8611dcdfab880c47',
  /** "Test case for scalar_mult with valid inputs" and "Invalid inputs for scalar_mult_vfy". */
  s: '7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05',
  X: '2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c',
  sX: '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e',
  Y_i1: '2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c',
  Y_i2: '0000000000000000000000000000000000000000000000000000000000000000',
};

/** Our key-confirmation tags for the B.3 run (§10.4, HMAC-SHA-512), pinned after the two-way check below. */
const PINNED_TAGS = {
  Ta: '30478d28d83ae3b214295e91f4a3eb62999a8ed94575075db4a7d3bc3e4d26f16c51adba12dc7771372637a46b5134e0937cddd7d820bfdd83be335e339eb57a',
  Tb: 'e927a7da291676f8878caae9cb70407d2f14117e6f9ff9adcfda797c4bcf2bd2fefd2ca3f2ddcce81b7386996c895b2f359010cc92069d5ff4ad49a977de79a6',
};

const inputs = { prs: B3.PRS, ci: B3.CI, sid: B3.sid };
/** A random source that returns the given bytes once (the vector's scalar), then fails the test. */
const fixed = (hex: string) => {
  let used = false;
  return (length: number) => {
    if (used || length !== 32) throw new Error('the vector scalar was asked for twice');
    used = true;
    return hexDecode(hex);
  };
};

describe('CPace string utilities (draft 21 Appendix A.1, A.3)', () => {
  it('prepend_len writes LEB128 lengths: one byte below 128, two from 128', () => {
    const range = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);
    expect(hexEncode(prependLen(new Uint8Array(0)))).toBe('00');
    expect(hexEncode(prependLen(utf8Encode('1234')))).toBe('0431323334');
    expect(hexEncode(prependLen(range(127)))).toBe('7f' + hexEncode(range(127)));
    expect(hexEncode(prependLen(range(128)))).toBe('8001' + hexEncode(range(128)));
    expect(hexEncode(prependLen(new Uint8Array(300)).slice(0, 2))).toBe('ac02');
  });

  it('lv_cat(b"1234", b"5", b"", b"678") is the draft\'s 12 bytes', () => {
    expect(hexEncode(lvCat(utf8Encode('1234'), utf8Encode('5'), new Uint8Array(0), utf8Encode('678')))).toBe('043132333401350003363738');
  });

  it('transcript_ir matches both of the draft\'s vectors', () => {
    const t = (a: string, b: string, c: string, d: string) => hexEncode(transcriptIr(utf8Encode(a), utf8Encode(b), utf8Encode(c), utf8Encode(d)));
    expect(t('123', 'PartyA', '234', 'PartyB')).toBe('03313233065061727479410332333406506172747942');
    expect(t('3456', 'PartyA', '2345', 'PartyB')).toBe('043334353606506172747941043233343506506172747942');
  });
});

describe('CPACE-RISTR255-SHA512 against draft 21 Appendix B.3', () => {
  it('builds the 170-byte generator string with 100 bytes of zero padding computed from the block size', () => {
    const genStr = generatorString(CPACE_RISTRETTO255_DSI, B3.PRS, B3.CI, B3.sid, SHA512_BLOCK_BYTES);
    expect(genStr.length).toBe(170);
    expect(hexEncode(genStr)).toBe(B3.generatorString);
    // len_zpad = 128 − 1 − len(prepend_len(PRS)) − len(prepend_len(DSI)) = 128 − 1 − 9 − 18 = 100.
    // After lv(DSI) (18 bytes) and lv(PRS) (9 bytes): the padding's length byte, then 100 zero bytes.
    expect(genStr[27]).toBe(100);
    expect(genStr.subarray(28, 128).every((b) => b === 0)).toBe(true);
    expect(hexEncode(sha512(genStr))).toBe(B3.hash);
  });

  it('pads nothing once DSI and PRS fill the first block, as max(0, …) says', () => {
    const longPrs = new Uint8Array(120).fill(0x41);
    const genStr = generatorString(CPACE_RISTRETTO255_DSI, longPrs, B3.CI, B3.sid, SHA512_BLOCK_BYTES);
    expect(genStr.length).toBe(18 + 121 + 1 + 25 + 17);
    expect(genStr[18 + 121]).toBe(0);
  });

  it('derives the generator g by element derivation of the 64-byte SHA-512 digest', () => {
    expect(hexEncode(calculateGenerator(B3.PRS, B3.CI, B3.sid).toBytes())).toBe(B3.g);
  });

  it('computes Ya and Yb from the vector scalars', () => {
    const g = calculateGenerator(B3.PRS, B3.CI, B3.sid);
    expect(hexEncode(scalarMult(hexDecode(B3.ya), g))).toBe(B3.Ya);
    expect(hexEncode(scalarMult(hexDecode(B3.yb), g))).toBe(B3.Yb);
    expect(hexEncode(CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya)).share)).toBe(B3.Ya);
    expect(hexEncode(CPaceParty.start('responder', inputs, B3.ADb, fixed(B3.yb)).share)).toBe(B3.Yb);
  });

  it('computes the same K on both sides with scalar_mult_vfy', () => {
    expect(hexEncode(scalarMultVfy(hexDecode(B3.ya), hexDecode(B3.Yb)))).toBe(B3.K);
    expect(hexEncode(scalarMultVfy(hexDecode(B3.yb), hexDecode(B3.Ya)))).toBe(B3.K);
  });

  it('computes the initiator-responder ISK from lv_cat(DSI_ISK, sid, K) ‖ transcript_ir', () => {
    const [Ya, Yb, K] = [hexDecode(B3.Ya), hexDecode(B3.Yb), hexDecode(B3.K)];
    expect(hexEncode(transcriptIr(Ya, B3.ADa, Yb, B3.ADb))).toBe(B3.transcriptIr);
    const iskInput = concatBytes(lvCat(utf8Encode('CPaceRistretto255_ISK'), B3.sid, K), transcriptIr(Ya, B3.ADa, Yb, B3.ADb));
    expect(hexEncode(iskInput)).toBe(B3.iskInput);
    expect(hexEncode(intermediateSessionKey(B3.sid, K, Ya, B3.ADa, Yb, B3.ADb))).toBe(B3.iskIr);
  });

  it('a full run of both parties gives the vector ISK on each side', () => {
    const a = CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya));
    const b = CPaceParty.start('responder', inputs, B3.ADb, fixed(B3.yb));
    const sessionB = b.finish(a.share, a.ad);
    const sessionA = a.finish(b.share, b.ad);
    expect(hexEncode(sessionA.isk())).toBe(B3.iskIr);
    expect(hexEncode(sessionB.isk())).toBe(B3.iskIr);
  });

  it('the transcript gives the draft\'s optional session id output (§10.6)', () => {
    const t = transcriptIr(hexDecode(B3.Ya), B3.ADa, hexDecode(B3.Yb), B3.ADb);
    expect(hexEncode(sha512(concatBytes(utf8Encode('CPaceSidOutput'), t)))).toBe(B3.sidOutputIr);
  });

  it('scalar_mult and scalar_mult_vfy agree with the valid-input case', () => {
    expect(hexEncode(scalarMult(hexDecode(B3.s), ristretto255.Point.fromBytes(hexDecode(B3.X))))).toBe(B3.sX);
    expect(hexEncode(scalarMultVfy(hexDecode(B3.s), hexDecode(B3.X)))).toBe(B3.sX);
  });

  it('scalar_mult_vfy returns G.I for the invalid encoding Y_i1 and for the identity Y_i2', () => {
    expect(hexEncode(scalarMultVfy(hexDecode(B3.s), hexDecode(B3.Y_i1)))).toBe(B3.Y_i2);
    expect(hexEncode(scalarMultVfy(hexDecode(B3.s), hexDecode(B3.Y_i2)))).toBe(B3.Y_i2);
    // Any other length does not decode either.
    expect(hexEncode(scalarMultVfy(hexDecode(B3.s), hexDecode(B3.X).subarray(1)))).toBe(B3.Y_i2);
  });

  it.each([
    ['the invalid encoding Y_i1', B3.Y_i1],
    ['the identity Y_i2', B3.Y_i2],
    ['a 31-byte share', B3.Yb.slice(2)],
    ['a non-canonical encoding (field element ≥ p)', 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
  ])('a party that receives %s aborts with link_failed (§7.2, §9)', (_name, share) => {
    const a = CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya));
    expect(() => a.finish(hexDecode(share), B3.ADb)).toThrow(ChatError);
    const b = CPaceParty.start('responder', inputs, B3.ADb, fixed(B3.yb));
    try {
      b.finish(hexDecode(share), B3.ADa);
      expect.unreachable();
    } catch (err) {
      expect((err as ChatError).code).toBe('link_failed');
    }
  });

  it('a party finishes once: its scalar is gone afterwards', () => {
    const a = CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya));
    a.finish(hexDecode(B3.Yb), B3.ADb);
    expect(() => a.finish(hexDecode(B3.Yb), B3.ADb)).toThrow(/already finished/);
  });
});

describe('CPace key confirmation (draft 21 §10.4) with HMAC-SHA-512, on the B.3 run', () => {
  const isk = hexDecode(B3.iskIr);
  const [Ya, Yb] = [hexDecode(B3.Ya), hexDecode(B3.Yb)];

  it('mac_key = SHA-512("CPaceMac" ‖ sid ‖ ISK); Ta = HMAC(mac_key, lv_cat(Ya, ADa)), Tb = HMAC(mac_key, lv_cat(Yb, ADb))', () => {
    const macKey = sha512(concatBytes(utf8Encode('CPaceMac'), B3.sid, isk));
    const { ta, tb } = confirmationTags(B3.sid, isk, Ya, B3.ADa, Yb, B3.ADb);
    expect(hexEncode(ta)).toBe(hexEncode(hmac(sha512, macKey, lvCat(Ya, B3.ADa))));
    expect(hexEncode(tb)).toBe(hexEncode(hmac(sha512, macKey, lvCat(Yb, B3.ADb))));
    expect({ Ta: hexEncode(ta), Tb: hexEncode(tb) }).toEqual(PINNED_TAGS);
  });

  it('each side sends its own tag and accepts exactly the other\'s', () => {
    const a = CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya));
    const b = CPaceParty.start('responder', inputs, B3.ADb, fixed(B3.yb));
    const sessionB = b.finish(a.share, a.ad);
    const sessionA = a.finish(b.share, b.ad);
    expect(sessionA.confirms(sessionB.ownTag())).toBe(true);
    expect(sessionB.confirms(sessionA.ownTag())).toBe(true);
    // A reflected tag (one's own sent back) is not the peer's.
    expect(sessionA.confirms(sessionA.ownTag())).toBe(false);
    const flipped = sessionB.ownTag();
    flipped[63]! ^= 1;
    expect(sessionA.confirms(flipped)).toBe(false);
    expect(sessionA.confirms(sessionB.ownTag().subarray(0, 32))).toBe(false);
  });

  it('a different PRS gives tags that do not confirm', () => {
    const a = CPaceParty.start('initiator', inputs, B3.ADa, fixed(B3.ya));
    const b = CPaceParty.start('responder', { ...inputs, prs: utf8Encode('Passw0rd') }, B3.ADb, fixed(B3.yb));
    const sessionB = b.finish(a.share, a.ad);
    const sessionA = a.finish(b.share, b.ad);
    expect(sessionA.confirms(sessionB.ownTag())).toBe(false);
    expect(sessionB.confirms(sessionA.ownTag())).toBe(false);
  });
});

describe('sample_scalar (§8.3)', () => {
  it('clears the bits above 252 and draws again on zero', () => {
    const draws = [new Uint8Array(32).fill(0xff), new Uint8Array(32)];
    draws[1]![31] = 0xf0; // zero once bits 252..255 are cleared
    let call = 0;
    const source = (n: number) => (call++ === 0 ? draws[1]! : draws[0]!).slice(0, n);
    const scalar = sampleScalar(source);
    expect(call).toBe(2);
    expect(scalar[31]).toBe(0x0f);
    expect(scalar.subarray(0, 31).every((b) => b === 0xff)).toBe(true);
  });
});
