/**
 * PQXDH's KDF and AD (spec §2.2 "Cryptographic notation", §3.3 "Sending the initial message").
 *   SK = HKDF-SHA-256(IKM = F || DH1 || DH2 || DH3 [|| DH4] || SS, salt = 32 zero bytes, info = PQXDH_INFO, L = 32)
 *   AD = EncodeEC(IK_A) || EncodeEC(IK_B) || EncodeEd(IDS_A) || EncodeEd(IDS_B)
 */
import { concatBytes, wipe, type Bytes } from '../../crypto/bytes.js';
import { hkdfSha256 } from '../../crypto/hkdf.js';
import { PQXDH_INFO, PQXDH_KDF_F, PQXDH_KDF_SALT, PQXDH_SK_LENGTH } from './constants.js';
import { encodeEC, encodeEd } from './encoding.js';
import type { PublicIdentity } from './identity.js';

/** `dhOutputs` in spec order (DH1, DH2, DH3[, DH4]); all inputs are wiped afterwards. */
export function pqxdhKdf(dhOutputs: readonly Bytes[], kemSharedSecret: Bytes): Bytes {
  const ikm = concatBytes(PQXDH_KDF_F, ...dhOutputs, kemSharedSecret);
  try {
    return hkdfSha256(ikm, PQXDH_KDF_SALT, PQXDH_INFO, PQXDH_SK_LENGTH);
  } finally {
    wipe(ikm);
    for (const d of dhOutputs) wipe(d);
    wipe(kemSharedSecret);
  }
}

export function pqxdhAssociatedData(initiator: PublicIdentity, responder: PublicIdentity): Bytes {
  return concatBytes(encodeEC(initiator.dhKey), encodeEC(responder.dhKey), encodeEd(initiator.signingKey), encodeEd(responder.signingKey));
}
