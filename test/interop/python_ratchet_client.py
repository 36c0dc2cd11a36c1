#!/usr/bin/env python3
"""An e2ee-chat ratchet-mode client written from docs/PROTOCOL.md alone (interop test).

A second, independent implementation of sections 5-7 (acks, authentication, events), 13 (delivery),
14 (prekey service), 15 (the ratchet envelope) and 16 (PQXDH + Double Ratchet, byte for byte).

Interpreter: a Python with `cryptography` >= 46 (ML-KEM-1024) and python-socketio >= 5.0 with
websocket-client.  The Debian packages python3-socketio / python3-websocket can be borrowed from
/usr/lib/python3/dist-packages; that folder is appended to the END of sys.path so that a newer
`cryptography` installed for this interpreter wins over Debian's older one.

Usage:
  python_ratchet_client.py selftest
      checks this implementation against the known answers printed in PROTOCOL.md 16.6, 16.8, 16.12
  python_ratchet_client.py --server URL --user NAME [--one-time N] [--kem-one-time N] serve
      logs in (registering on first use), uploads prekeys, prints {"event":"ready",...}, then reads
      one JSON command per line on stdin and answers each with one JSON line {"re": <id>, "ok": ...}:
        {"id":1,"cmd":"send","to":"alice","text":"hi"}            seal (16) and send (7.6) now
              ("tamper": true flips one bit of the MAC tag: the peer must reject that message)
        {"id":2,"cmd":"seal","to":"alice","text":"hi","tag":"a"}   seal now, hold the envelope
        {"id":3,"cmd":"release","tags":["c","a","b"]}             send held envelopes, in this order
        {"id":4,"cmd":"recv","count":3,"order":[2,0,1],"timeout":10}
              wait for 3 `message` events; open them in this order (default: arrival); ack each (7.9)
        {"id":5,"cmd":"count"}                                     prekeys.count (14.2)
        {"id":6,"cmd":"safety","peer":"alice"}                    safety number (16.12)
        {"id":7,"cmd":"quit"}
      stderr: diagnostics only.

No primitive is implemented here: X25519, Ed25519, ML-KEM-1024, HKDF, HMAC, SHA-2, AES and PKCS#7 all
come from `cryptography`.
"""

import sys

if "/usr/lib/python3/dist-packages" not in sys.path:
    sys.path.append("/usr/lib/python3/dist-packages")  # python3-socketio; appended so newer packages win

import argparse
import base64
import copy
import hashlib
import json
import os
import queue
import re
import time
from collections import OrderedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM1024PrivateKey, MLKEM1024PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class ProtocolError(Exception):
    """A failure with one of the codes of section 5 (server codes and client-local ones)."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class DecryptionFailed(Exception):
    """16.10: every failure to open a message is one `decryption_failed`; the reason is for debugging."""


def log(*parts):
    sys.stderr.write(" ".join(str(p) for p in parts) + "\n")
    sys.stderr.flush()


# ==================================================================== section 2: encodings

def b64e(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64d(text, length=None):
    """Strict unpadded base64url: alphabet only, no `=`, zero trailing bits (section 2)."""
    if not isinstance(text, str) or not B64URL_RE.match(text) or len(text) % 4 == 1:
        raise ProtocolError("bad_request", "invalid base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text:
        raise ProtocolError("bad_request", "non-canonical base64url")
    if length is not None and len(data) != length:
        raise ProtocolError("bad_request", "expected %d bytes, got %d" % (length, len(data)))
    return data


def u32(n):
    """16 conventions: integers are unsigned big-endian."""
    if not isinstance(n, int) or not 0 <= n <= 0xFFFFFFFF:
        raise ProtocolError("bad_request", "not a uint32: %r" % (n,))
    return n.to_bytes(4, "big")


def prekey_id(n):
    """Prekey ids are integers 0 ... 2^32-1 (14)."""
    u32(n)
    return n


def now_ms():
    return int(time.time() * 1000)


# ==================================================================== section 16.1: primitives

def x25519_dh(secret_raw, public_raw):
    """X25519 (RFC 7748 §5); an all-zero output is rejected (RFC 7748 §6.1, mandatory per 16.1)."""
    try:
        out = X25519PrivateKey.from_private_bytes(secret_raw).exchange(X25519PublicKey.from_public_bytes(public_raw))
    except ValueError as exc:  # cryptography refuses the all-zero result itself
        raise ProtocolError("bad_request", "low-order X25519 key (%s)" % exc)
    if out == bytes(32):
        raise ProtocolError("bad_request", "low-order X25519 key")
    return out


def x25519_generate():
    """GENERATE_DH: returns (secret raw 32 bytes, public raw 32 bytes)."""
    sk = X25519PrivateKey.generate()
    return (sk.private_bytes_raw(), sk.public_key().public_bytes_raw())


def hkdf_sha256(ikm, salt, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key, data):
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def hmac_sha256_verify(key, data, tag):
    """Constant-time comparison (cryptography's HMAC.verify)."""
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    try:
        h.verify(tag)
        return True
    except InvalidSignature:
        return False


def ed25519_verify(public_raw, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def mlkem_encaps(ek_raw):
    """ML-KEM-1024.Encaps (FIPS 203); from_public_bytes applies the §7.2 modulus check."""
    try:
        pk = MLKEM1024PublicKey.from_public_bytes(ek_raw)
    except ValueError as exc:
        raise ProtocolError("bad_request", "ML-KEM key fails the FIPS 203 check (%s)" % exc)
    ss, ct = pk.encapsulate()  # cryptography returns (shared_secret, ciphertext)
    return ct, ss


# ==================================================================== section 16.2: key encodings

EC_TYPE, KEM_TYPE, ED_TYPE = 0x05, 0x0A, 0xED


def encode_ec(pub32):
    assert len(pub32) == 32
    return bytes([EC_TYPE]) + pub32


def encode_kem(ek1568):
    assert len(ek1568) == 1568
    return bytes([KEM_TYPE]) + ek1568


def encode_ed(pub32):
    assert len(pub32) == 32
    return bytes([ED_TYPE]) + pub32


def decode_typed(data, type_byte, raw_len, what):
    """Decoders require exactly these lengths and type bytes (16.2)."""
    if len(data) != raw_len + 1 or data[0] != type_byte:
        raise ProtocolError("bad_request", "bad %s encoding" % what)
    return bytes(data[1:])


# ==================================================================== section 16.4: signature messages

LABEL_BINDING = b"e2ee-chat PQXDH v1 identity binding"   # 35 bytes
LABEL_SPK = b"e2ee-chat PQXDH v1 signed prekey"          # 32 bytes
LABEL_KEM = b"e2ee-chat PQXDH v1 kem prekey"             # 29 bytes
assert (len(LABEL_BINDING), len(LABEL_SPK), len(LABEL_KEM)) == (35, 32, 29)


def sig_message(label, payload):
    """`label || 0x00 || payload` (16.4)."""
    return label + b"\x00" + payload


def binding_message(ids_pub, ik_pub):
    return sig_message(LABEL_BINDING, encode_ed(ids_pub) + encode_ec(ik_pub))


def spk_message(spk_pub):
    return sig_message(LABEL_SPK, encode_ec(spk_pub))


def kem_message(pq_pub):
    return sig_message(LABEL_KEM, encode_kem(pq_pub))


# ==================================================================== sections 4, 16.3: local identity

def jwk_thumbprint_ed25519(x):
    """Section 4: RFC 7638 thumbprint over the required members in lexicographic order, no whitespace."""
    return b64e(hashlib.sha256(('{"crv":"Ed25519","kty":"OKP","x":"%s"}' % x).encode("ascii")).digest())


def jwk_thumbprint_rsa(n):
    return b64e(hashlib.sha256(('{"e":"AQAB","kty":"RSA","n":"%s"}' % n).encode("ascii")).digest())


class Identity:
    """IDS (Ed25519, registered with the server), the RSA key registration still requires (section 4),
    IK (X25519 identity key) and the binding signature (16.3)."""

    def __init__(self):
        self.ids = Ed25519PrivateKey.generate()
        self.ids_pub = self.ids.public_key().public_bytes_raw()
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = rsa_key.public_key().public_numbers().n.to_bytes(256, "big")
        assert n[0] >= 0x80 and n[-1] & 1
        self.signing_jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64e(self.ids_pub)}
        self.encryption_jwk = {"kty": "RSA", "n": b64e(n), "e": "AQAB"}
        self.ik_secret, self.ik_pub = x25519_generate()
        self.binding = self.sign(binding_message(self.ids_pub, self.ik_pub))

    def sign(self, data):
        return self.ids.sign(data)  # pure Ed25519, RFC 8032


# ==================================================================== section 14: local prekeys

class PreKeys:
    """The responder's private prekeys.  ML-KEM ids (one-time and last resort) share one space (16.5)."""

    def __init__(self, identity, one_time, kem_one_time):
        self.identity = identity
        self.spk = {}       # id -> (secret raw, public raw)
        self.opk = {}       # id -> (secret raw, public raw)
        self.kem = {}       # id -> (MLKEM1024PrivateKey, public raw, one_time: bool)
        self.spk_id = 1
        self.spk[self.spk_id] = x25519_generate()
        self.last_resort_id = 1_000_000
        sk = MLKEM1024PrivateKey.generate()
        self.kem[self.last_resort_id] = (sk, sk.public_key().public_bytes_raw(), False)
        for i in range(one_time):
            self.opk[100 + i] = x25519_generate()
        for i in range(kem_one_time):
            sk = MLKEM1024PrivateKey.generate()
            self.kem[200 + i] = (sk, sk.public_key().public_bytes_raw(), True)

    def upload_payload(self):
        """14.1 `prekeys.upload`: raw keys, no type byte, base64url; signatures by IDS over 16.4 messages."""
        ident = self.identity
        spk_pub = self.spk[self.spk_id][1]
        lr_pub = self.kem[self.last_resort_id][1]
        return {
            "identity": {"dhKey": b64e(ident.ik_pub), "binding": b64e(ident.binding)},
            "signedPreKey": {"id": self.spk_id, "publicKey": b64e(spk_pub),
                             "signature": b64e(ident.sign(spk_message(spk_pub)))},
            "lastResortKemPreKey": {"id": self.last_resort_id, "publicKey": b64e(lr_pub),
                                    "signature": b64e(ident.sign(kem_message(lr_pub)))},
            "oneTimePreKeys": [{"id": i, "publicKey": b64e(pub)} for i, (_s, pub) in sorted(self.opk.items())],
            "kemPreKeys": [{"id": i, "publicKey": b64e(pub), "signature": b64e(ident.sign(kem_message(pub)))}
                           for i, (_sk, pub, one_time) in sorted(self.kem.items()) if one_time],
        }


# ==================================================================== section 16.5: bundle verification

def parse_bundle(res, pinned_ids):
    """14.3 result -> verified bundle (16.5), checks in the documented order; aborts on the first failure."""
    try:
        ident = res["identity"]
        ids_pub = b64d(ident["signingKey"], 32)
        ik_pub = b64d(ident["dhKey"], 32)
        binding = b64d(ident["binding"], 64)
        spk = res["signedPreKey"]
        kem = res["kemPreKey"]
        bundle = {
            "ids": ids_pub, "ik": ik_pub, "binding": binding,
            "spk_id": prekey_id(spk["id"]), "spk": b64d(spk["publicKey"], 32),
            "spk_sig": b64d(spk["signature"], 64),
            "kem_id": prekey_id(kem["id"]), "kem": b64d(kem["publicKey"], 1568),
            "kem_sig": b64d(kem["signature"], 64),
            "opk_id": None, "opk": None,
        }
        opk = res.get("oneTimePreKey")
        if opk is not None:
            bundle["opk_id"], bundle["opk"] = prekey_id(opk["id"]), b64d(opk["publicKey"], 32)
    except (KeyError, TypeError) as exc:
        raise ProtocolError("bad_request", "malformed bundle: %r" % exc)
    # Section 14.3: the bundle's IDS must be the key pinned for the peer (section 11).
    if ids_pub != pinned_ids:
        raise ProtocolError("peer_key_changed", "the bundle's signing key is not the pinned one")
    if not ed25519_verify(ids_pub, binding, binding_message(ids_pub, ik_pub)):
        raise ProtocolError("bad_signature", "identity binding")
    if not ed25519_verify(ids_pub, bundle["spk_sig"], spk_message(bundle["spk"])):
        raise ProtocolError("bad_signature", "signed prekey")
    if not ed25519_verify(ids_pub, bundle["kem_sig"], kem_message(bundle["kem"])):
        raise ProtocolError("bad_signature", "kem prekey")
    return bundle


# ==================================================================== section 16.6: PQXDH

PQXDH_INFO = b"e2ee-chat_PQXDH_CURVE25519_SHA-256_ML-KEM-1024"
assert len(PQXDH_INFO) == 46


def pqxdh_kdf(dhs, ss):
    """SK = HKDF-SHA-256(IKM = F || DH1 || DH2 || DH3 [|| DH4] || SS, salt = 32 x 0x00, info, L = 32)."""
    return hkdf_sha256(b"\xff" * 32 + b"".join(dhs) + ss, bytes(32), PQXDH_INFO, 32)


def pqxdh_ad(ik_a, ik_b, ids_a, ids_b):
    """AD = EncodeEC(IK_A) || EncodeEC(IK_B) || EncodeEd(IDS_A) || EncodeEd(IDS_B) (132 bytes)."""
    ad = encode_ec(ik_a) + encode_ec(ik_b) + encode_ed(ids_a) + encode_ed(ids_b)
    assert len(ad) == 132
    return ad


def pqxdh_initiate(me, bundle):
    """Alice's side (PQXDH §3.3).  Returns SK, AD, EK_A public, the KEM ciphertext."""
    ek_secret, ek_pub = x25519_generate()
    ct, ss = mlkem_encaps(bundle["kem"])
    dhs = [
        x25519_dh(me.ik_secret, bundle["spk"]),   # DH1 = DH(IK_A, SPK_B)
        x25519_dh(ek_secret, bundle["ik"]),       # DH2 = DH(EK_A, IK_B)
        x25519_dh(ek_secret, bundle["spk"]),      # DH3 = DH(EK_A, SPK_B)
    ]
    if bundle["opk"] is not None:
        dhs.append(x25519_dh(ek_secret, bundle["opk"]))  # DH4 = DH(EK_A, OPK_B)
    sk = pqxdh_kdf(dhs, ss)
    ad = pqxdh_ad(me.ik_pub, bundle["ik"], me.ids_pub, bundle["ids"])
    return sk, ad, ek_pub, ct


def pqxdh_respond(me, prekeys, init):
    """Bob's side (PQXDH §3.4), for a parsed initial message whose IDS_A and binding were checked."""
    spk = prekeys.spk.get(init["spk_id"])
    if spk is None:
        raise DecryptionFailed("unknown signed prekey id %d" % init["spk_id"])
    kem = prekeys.kem.get(init["kem_id"])
    if kem is None:
        raise DecryptionFailed("unknown ML-KEM prekey id %d" % init["kem_id"])
    dhs = [
        x25519_dh(spk[0], init["ik"]),      # DH1
        x25519_dh(me.ik_secret, init["ek"]),  # DH2
        x25519_dh(spk[0], init["ek"]),      # DH3
    ]
    if init["opk_id"] is not None:
        opk = prekeys.opk.get(init["opk_id"])
        if opk is None:
            raise DecryptionFailed("unknown one-time prekey id %d" % init["opk_id"])
        dhs.append(x25519_dh(opk[0], init["ek"]))  # DH4
    ss = kem[0].decapsulate(init["ct"])  # implicit rejection: a wrong CT gives another SK, then a MAC failure
    sk = pqxdh_kdf(dhs, ss)
    ad = pqxdh_ad(init["ik"], me.ik_pub, init["ids"], me.ids_pub)
    return sk, ad, spk


# ==================================================================== section 16.7: initial message

INITIAL_TYPE = 0x02
INITIAL_FIXED = 1746


def encode_initial_prefix(me, ek_pub, bundle, ct):
    """The 1746-byte PQXDH part of a prekey message; the Double Ratchet message follows it."""
    has_opk = bundle["opk"] is not None
    out = (bytes([INITIAL_TYPE]) + encode_ed(me.ids_pub) + encode_ec(me.ik_pub) + me.binding
           + encode_ec(ek_pub) + u32(bundle["spk_id"]) + bytes([1 if has_opk else 0])
           + u32(bundle["opk_id"] if has_opk else 0) + u32(bundle["kem_id"]) + bytes([KEM_TYPE]) + ct)
    assert len(out) == INITIAL_FIXED
    return out


def decode_initial(data):
    if len(data) < INITIAL_FIXED + 89 or data[0] != INITIAL_TYPE:
        raise DecryptionFailed("malformed initial message")
    try:
        flag = data[168]
        if flag not in (0, 1):
            raise DecryptionFailed("bad one-time prekey flag")
        opk_id = int.from_bytes(data[169:173], "big")
        if flag == 0 and opk_id != 0:
            raise DecryptionFailed("one-time prekey id must be 0 when absent")
        return {
            "ids": decode_typed(data[1:34], ED_TYPE, 32, "IDS_A"),
            "ik": decode_typed(data[34:67], EC_TYPE, 32, "IK_A"),
            "binding": bytes(data[67:131]),
            "ek": decode_typed(data[131:164], EC_TYPE, 32, "EK_A"),
            "spk_id": int.from_bytes(data[164:168], "big"),
            "opk_id": opk_id if flag == 1 else None,
            "kem_id": int.from_bytes(data[173:177], "big"),
            "ct": decode_typed(data[177:1746], KEM_TYPE, 1568, "KEM ciphertext"),
            "message": bytes(data[INITIAL_FIXED:]),
        }
    except ProtocolError as exc:
        raise DecryptionFailed(exc.message)


# ==================================================================== section 16.8: Double Ratchet KDFs and AEAD

RK_INFO = b"e2ee-chat_DoubleRatchet_RootChain_v1"       # 36 bytes
MK_INFO = b"e2ee-chat_DoubleRatchet_MessageKeys_v1"     # 38 bytes
assert (len(RK_INFO), len(MK_INFO)) == (36, 38)


def kdf_rk(rk, dh_out):
    okm = hkdf_sha256(dh_out, rk, RK_INFO, 64)
    return okm[:32], okm[32:]


def kdf_ck(ck):
    """Returns (next chain key, message key)."""
    return hmac_sha256(ck, b"\x02"), hmac_sha256(ck, b"\x01")


def message_keys(mk):
    okm = hkdf_sha256(mk, bytes(32), MK_INFO, 80)
    return okm[0:32], okm[32:64], okm[64:80]


def dr_encrypt(mk, plaintext, ad):
    enc_key, auth_key, iv = message_keys(mk)
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    return ct + hmac_sha256(auth_key, ad + ct)


def dr_decrypt(mk, data, ad):
    """The tag is checked (constant time) before the padding is looked at."""
    enc_key, auth_key, iv = message_keys(mk)
    ct, tag = data[:-32], data[-32:]
    if not hmac_sha256_verify(auth_key, ad + ct, tag):
        raise DecryptionFailed("bad MAC")
    dec = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    try:
        unpadder = sym_padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailed("bad padding")


# ==================================================================== section 16.9: ratchet message and header

MESSAGE_TYPE = 0x01
HEADER_LEN = 41


def encode_header(dh_pub, pn, n):
    return bytes([MESSAGE_TYPE]) + dh_pub + u32(pn) + u32(n)


def decode_message(data):
    if len(data) < 89 or data[0] != MESSAGE_TYPE or (len(data) - HEADER_LEN - 32) % 16 != 0:
        raise DecryptionFailed("malformed ratchet message")
    return {
        "header": bytes(data[:HEADER_LEN]),
        "dh": bytes(data[1:33]),
        "pn": int.from_bytes(data[33:37], "big"),
        "n": int.from_bytes(data[37:41], "big"),
        "body": bytes(data[HEADER_LEN:]),
    }


# ==================================================================== section 16.10: ratchet state

MAX_SKIP = 1000
MAX_STORED_SKIPPED_KEYS = 2000
MAX_ARCHIVED_STATES = 40
MAX_COUNTER = 0xFFFFFFFF


class RatchetState:
    """DR §3.2 state.  Secrets are plain bytes so that a state copies cheaply (commit on success)."""

    def __init__(self, ad, base_key):
        self.dhs = None           # (secret raw, public raw)
        self.dhr = None
        self.rk = None
        self.cks = None
        self.ckr = None
        self.ns = self.nr = self.pn = 0
        self.skipped = OrderedDict()  # (dh, n) -> message key, oldest first
        self.ad = ad
        self.base_key = base_key      # EK_A: how the responder recognises repeated initial messages
        self.pending_prekey = None    # initiator: 1746-byte PQXDH prefix, until she receives a message

    @classmethod
    def init_alice(cls, sk, ad, bob_spk, base_key, prefix):
        """RatchetInitAlice (DR §3.3) with DHr = SPK_B."""
        st = cls(ad, base_key)
        st.dhs = x25519_generate()
        st.dhr = bob_spk
        st.rk, st.cks = kdf_rk(sk, x25519_dh(st.dhs[0], st.dhr))
        st.pending_prekey = prefix
        return st

    @classmethod
    def init_bob(cls, sk, ad, spk_pair, base_key):
        """RatchetInitBob (DR §3.3): Bob's SPK is his first ratchet key pair."""
        st = cls(ad, base_key)
        st.dhs = spk_pair
        st.rk = sk
        return st

    def encrypt(self, plaintext):
        """RatchetEncrypt.  Returns the bytes of a 16.9 message."""
        if self.cks is None:
            raise ProtocolError("internal", "no sending chain yet")
        if self.ns > MAX_COUNTER:
            raise ProtocolError("internal", "sending chain exhausted")
        self.cks, mk = kdf_ck(self.cks)
        header = encode_header(self.dhs[1], self.pn, self.ns)
        self.ns += 1
        return header + dr_encrypt(mk, plaintext, self.ad + header)  # CONCAT(AD, header)

    def decrypt(self, data):
        """RatchetDecrypt on a copy; the copy is returned only if the MAC verified (commit on success)."""
        msg = decode_message(data)
        st = copy.deepcopy(self)
        plaintext = st._decrypt(msg)
        st.pending_prekey = None  # she has received a message: stop sending prekey messages
        return st, plaintext

    def _decrypt(self, msg):
        ad = self.ad + msg["header"]
        key = (msg["dh"], msg["n"])
        if key in self.skipped:  # TrySkippedMessageKeys
            mk = self.skipped.pop(key)
            return dr_decrypt(mk, msg["body"], ad)
        if msg["dh"] != self.dhr:
            self._skip(msg["pn"])
            self._dh_ratchet(msg["dh"])
        elif msg["n"] < self.nr:
            raise DecryptionFailed("replay (N below Nr and no stored key)")
        self._skip(msg["n"])
        self.ckr, mk = kdf_ck(self.ckr)
        self.nr += 1
        return dr_decrypt(mk, msg["body"], ad)

    def _skip(self, until):
        """SkipMessageKeys, with MAX_SKIP (`Nr + MAX_SKIP < until` is rejected)."""
        if self.nr + MAX_SKIP < until:
            raise DecryptionFailed("too many skipped messages")
        if self.ckr is not None:
            while self.nr < until:
                self.ckr, mk = kdf_ck(self.ckr)
                self.skipped[(self.dhr, self.nr)] = mk
                self.nr += 1
            while len(self.skipped) > MAX_STORED_SKIPPED_KEYS:
                self.skipped.popitem(last=False)

    def _dh_ratchet(self, dh_pub):
        try:
            self.pn = self.ns
            self.ns = self.nr = 0
            self.dhr = dh_pub
            self.rk, self.ckr = kdf_rk(self.rk, x25519_dh(self.dhs[0], self.dhr))
            self.dhs = x25519_generate()
            self.rk, self.cks = kdf_rk(self.rk, x25519_dh(self.dhs[0], self.dhr))
        except ProtocolError as exc:
            raise DecryptionFailed(exc.message)


class SessionRecord:
    """Current state + up to 40 archived ones, newest first (16.10)."""

    def __init__(self):
        self.current = None
        self.previous = []

    def states(self):
        return ([self.current] if self.current else []) + self.previous

    def promote(self, old, new):
        """`new` (a decrypted copy of `old`, or a fresh state when old is None) becomes current."""
        rest = [s for s in self.states() if s is not old]
        self.current = new
        self.previous = rest[:MAX_ARCHIVED_STATES]


# ==================================================================== section 15: envelope and sessions

def ratchet_envelope(body_bytes):
    """15.1: exactly {type, v, body}."""
    return {"type": "ratchet", "v": 1, "body": b64e(body_bytes)}


def payload_bytes(payload):
    """15.2 / 8.1: the payload as compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_payload(raw, sender, me):
    """15.2: the 8.1 member table; from/to checked against the server-stamped values."""
    try:
        text = raw.decode("utf-8")
        p = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise DecryptionFailed("payload is not UTF-8 JSON")
    if not isinstance(p, dict) or p.get("v") != 1 or type(p.get("v")) is not int:
        raise DecryptionFailed("payload v != 1")
    if p.get("from") != sender or p.get("to") != me:
        raise DecryptionFailed("payload from/to mismatch")
    pid = p.get("id")
    if not isinstance(pid, str) or not 16 <= len(pid) <= 64 or not B64URL_RE.match(pid):
        raise DecryptionFailed("bad payload id")
    if not isinstance(p.get("body"), str):
        raise DecryptionFailed("bad body")
    sent_at = p.get("sentAt")
    if type(sent_at) is not int or sent_at < 0:
        raise DecryptionFailed("bad sentAt")
    return p


# ==================================================================== section 16.12: safety number

def fingerprint_digits(ids_pub, username):
    k = encode_ed(ids_pub)
    h = hashlib.sha512(b"\x00\x00" + k + username.encode("utf-8") + k).digest()
    for _ in range(5199):
        h = hashlib.sha512(h + k).digest()
    return "".join("%05d" % (int.from_bytes(h[5 * j:5 * j + 5], "big") % 100000) for j in range(6))


def safety_number(a_pub, a_name, b_pub, b_name):
    x, y = fingerprint_digits(a_pub, a_name), fingerprint_digits(b_pub, b_name)
    return x + y if x <= y else y + x


# ==================================================================== sections 1, 5: transport

class Connection:
    """One Socket.IO connection; every event carries one JSON object and an ack callback (section 1)."""

    def __init__(self, server, timeout):
        import socketio  # python3-socketio (Debian), see the module docstring

        self.socketio = socketio
        self.timeout = timeout
        self.inbox = queue.Queue()       # `message` events, in arrival order
        self.receipts = queue.Queue()    # `receipt` events (7.10)
        self.sio = socketio.Client(reconnection=False)
        self._deliver_in_order()
        self.sio.on("message", lambda data: self.inbox.put(data))
        self.sio.on("receipt", lambda data: self.receipts.put(data))
        self.sio.on("protocol_error", lambda data: log("protocol_error", json.dumps(data)))
        self.sio.on("disconnect", lambda *a: self.inbox.put(None))
        try:
            self.sio.connect(server, transports=["websocket"], wait_timeout=timeout)
        except Exception as exc:
            raise ProtocolError("not_connected", "cannot connect to %s: %s" % (server, exc))

    def _deliver_in_order(self):
        """Section 1: python-engineio runs each handler in a thread of its own; run `message` packets on
        the reading thread instead, so our handlers (which only enqueue) see them in arrival order."""
        eio = getattr(self.sio, "eio", None)
        original = getattr(eio, "_trigger_event", None)
        if original is None:
            return

        def trigger(event, *args, **kwargs):
            if event == "message":
                kwargs["run_async"] = False
            return original(event, *args, **kwargs)

        eio._trigger_event = trigger

    def call(self, event, payload):
        """Section 5: `{"ok":true,...}` or `{"ok":false,"error":{"code","message"}}`."""
        try:
            ack = self.sio.call(event, payload, timeout=self.timeout)
        except self.socketio.exceptions.TimeoutError:
            raise ProtocolError("timeout", "no ack for %s" % event)
        except self.socketio.exceptions.SocketIOError as exc:
            raise ProtocolError("not_connected", str(exc))
        if not isinstance(ack, dict) or "ok" not in ack:
            raise ProtocolError("internal", "malformed ack for %s: %r" % (event, ack))
        if ack["ok"] is not True:
            err = ack.get("error") or {}
            raise ProtocolError(err.get("code", "internal"), "%s: %s" % (event, err.get("message", "")))
        return ack

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:
            pass


# ==================================================================== the client

class Client:
    def __init__(self, server, user, one_time, kem_one_time, timeout):
        self.user = user
        self.me = Identity()
        self.prekeys = PreKeys(self.me, one_time, kem_one_time)
        self.conn = Connection(server, timeout)
        self.pins = {}            # section 11: peer -> pinned Ed25519 public key (raw)
        self.sessions = {}        # peer -> SessionRecord
        self.seen_ids = set()     # section 9 step 5 / 15.2: payload ids accepted, from anyone
        self.done_server_ids = OrderedDict()  # 15.4: server ids already opened (duplicates, not failures)
        self.held = {}            # tag -> (to, envelope, payload)

    # ---------------------------------------------------------------- section 6: authentication

    def authenticate(self):
        """7.3 then, on unknown_user, 7.2 with a new challenge (a challenge answers one attempt)."""
        challenge = self.conn.call("challenge", {})["challenge"]
        text = "\n".join(["e2ee-chat/v1/login", challenge, self.user]).encode("utf-8")
        try:
            return self.conn.call("login", {"username": self.user, "signature": b64e(self.me.sign(text))})
        except ProtocolError as exc:
            if exc.code != "unknown_user":
                raise
        challenge = self.conn.call("challenge", {})["challenge"]
        text = "\n".join(["e2ee-chat/v1/register", challenge, self.user,
                          jwk_thumbprint_ed25519(self.me.signing_jwk["x"]),
                          jwk_thumbprint_rsa(self.me.encryption_jwk["n"])]).encode("utf-8")
        return self.conn.call("register", {"username": self.user, "signingKey": self.me.signing_jwk,
                                           "encryptionKey": self.me.encryption_jwk,
                                           "signature": b64e(self.me.sign(text))})

    # ---------------------------------------------------------------- section 14: prekey service

    def publish_prekeys(self):
        """14.1; ML-KEM keys are large, so one-time keys go up in batches under the frame cap."""
        full = self.prekeys.upload_payload()
        kem_batches = [full["kemPreKeys"][i:i + 16] for i in range(0, len(full["kemPreKeys"]), 16)] or [[]]
        first = dict(full, kemPreKeys=kem_batches[0])
        result = self.conn.call("prekeys.upload", first)
        for batch in kem_batches[1:]:
            result = self.conn.call("prekeys.upload", {"identity": full["identity"], "kemPreKeys": batch})
        return result

    def count(self):
        return self.conn.call("prekeys.count", {})

    # ---------------------------------------------------------------- section 11: pinning

    def pinned_key(self, peer):
        """7.4 `keys`, pinned on first use; a later change is refused (peer_key_changed)."""
        res = self.conn.call("keys", {"username": peer})
        jwk = res.get("signingKey") or {}
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ProtocolError("invalid_key", "not an Ed25519 JWK")
        key = b64d(jwk.get("x"), 32)
        pinned = self.pins.setdefault(peer, key)
        if pinned != key:
            raise ProtocolError("peer_key_changed", "the keys of %s have changed" % peer)
        return pinned

    # ---------------------------------------------------------------- sending (15.3, 16.6-16.9)

    def start_session(self, peer):
        """15.3: keys (pin), prekeys.bundle, verify (16.5), PQXDH (16.6), RatchetInitAlice (16.8)."""
        pinned = self.pinned_key(peer)
        bundle = parse_bundle(self.conn.call("prekeys.bundle", {"username": peer}), pinned)
        sk, ad, ek_pub, ct = pqxdh_initiate(self.me, bundle)
        prefix = encode_initial_prefix(self.me, ek_pub, bundle, ct)
        state = RatchetState.init_alice(sk, ad, bundle["spk"], ek_pub, prefix)
        record = self.sessions.setdefault(peer, SessionRecord())
        record.promote(None, state)
        log("session with %s started (opk %s, kem prekey %d)" % (peer, bundle["opk_id"], bundle["kem_id"]))
        return bundle

    def seal(self, to, text, tamper=False):
        """Returns (envelope, payload, info).  `tamper` flips one bit of the MAC tag (a test of the peer)."""
        if not USERNAME_RE.match(to):
            raise ProtocolError("invalid_username", to)
        record = self.sessions.get(to)
        started = None
        if record is None or record.current is None or record.current.cks is None:
            bundle = self.start_session(to)
            started = {"opkId": bundle["opk_id"], "kemId": bundle["kem_id"], "spkId": bundle["spk_id"]}
            record = self.sessions[to]
        state = record.current
        payload = {"v": 1, "from": self.user, "to": to, "id": b64e(os.urandom(16)), "sentAt": now_ms(), "body": text}
        n, pn = state.ns, state.pn
        message = state.encrypt(payload_bytes(payload))
        if tamper:
            message = message[:-1] + bytes([message[-1] ^ 0x01])
        body = (state.pending_prekey + message) if state.pending_prekey else message
        info = {"kind": "prekey" if state.pending_prekey else "ratchet", "n": n, "pn": pn,
                "bodyBytes": len(body), "messageBytes": len(message), "newSession": started}
        return ratchet_envelope(body), payload, info

    def send_envelope(self, to, envelope, payload):
        """7.6, with the payload id as idempotency key."""
        res = self.conn.call("send", {"to": to, "id": payload["id"], "envelope": envelope})
        return {"serverId": res["id"], "status": res["status"], "payloadId": payload["id"], "body": payload["body"]}

    # ---------------------------------------------------------------- receiving (15.5, 16.7, 16.10)

    def open_envelope(self, msg):
        """Returns (payload, info) or raises DecryptionFailed / ProtocolError(peer_key_changed)."""
        sender, env = msg.get("from"), msg.get("envelope")
        if msg.get("to") != self.user or not isinstance(sender, str) or not USERNAME_RE.match(sender):
            raise DecryptionFailed("bad from/to")
        if not isinstance(env, dict) or set(env) != {"type", "v", "body"} or env["type"] != "ratchet" or env["v"] != 1:
            raise DecryptionFailed("not a ratchet v1 envelope")
        try:
            data = b64d(env["body"])
        except ProtocolError:
            raise DecryptionFailed("body is not base64url")
        record = self.sessions.setdefault(sender, SessionRecord())
        if data[:1] == bytes([INITIAL_TYPE]):
            old, new, plaintext, info = self._open_initial(sender, record, data)
        else:
            old, new, plaintext, info = self._open_message(record, data)
        payload = check_payload(plaintext, sender, self.user)
        if payload["id"] in self.seen_ids:
            raise DecryptionFailed("replayed payload id")
        # commit: record the message, then save the session (15.5); here both live in memory
        self.seen_ids.add(payload["id"])
        record.promote(old, new)
        if info.get("consumed"):
            self._delete_used_prekeys(info["consumed"])
        return payload, info

    def _open_message(self, record, data):
        errors = []
        for state in record.states():  # current, then each archived state (16.10)
            try:
                new, plaintext = state.decrypt(data)
                m = decode_message(data)
                return state, new, plaintext, {"kind": "ratchet", "n": m["n"], "pn": m["pn"]}
            except DecryptionFailed as exc:
                errors.append(str(exc))
        raise DecryptionFailed("no state decrypts: %s" % (errors or "no session"))

    def _open_initial(self, sender, record, data):
        init = decode_initial(data)
        m = decode_message(init["message"])
        # 16.7: the responder must check IDS_A against the directory or its pinned key (15.5)
        if init["ids"] != self.pinned_key(sender):
            raise DecryptionFailed("initial message from an unpinned signing key")
        # repeats of the initial message are recognised by EK_A and use the state already created
        for state in record.states():
            if state.base_key == init["ek"]:
                new, plaintext = state.decrypt(init["message"])
                return state, new, plaintext, {"kind": "prekey", "repeat": True, "n": m["n"], "pn": m["pn"]}
        if not ed25519_verify(init["ids"], init["binding"], binding_message(init["ids"], init["ik"])):
            raise DecryptionFailed("initiator's identity binding does not verify")
        try:
            sk, ad, spk = pqxdh_respond(self.me, self.prekeys, init)
        except ProtocolError as exc:
            raise DecryptionFailed(exc.message)
        fresh = RatchetState.init_bob(sk, ad, spk, init["ek"])
        new, plaintext = fresh.decrypt(init["message"])
        consumed = {"opk": init["opk_id"], "kem": init["kem_id"]}
        return None, new, plaintext, {"kind": "prekey", "repeat": False, "opkId": init["opk_id"],
                                      "kemId": init["kem_id"], "consumed": consumed, "n": m["n"], "pn": m["pn"]}

    def _delete_used_prekeys(self, used):
        """16.6: only after the initial ciphertext decrypted; the last-resort key is never deleted."""
        if used["opk"] is not None:
            self.prekeys.opk.pop(used["opk"], None)
        kem = self.prekeys.kem.get(used["kem"])
        if kem is not None and kem[2]:
            del self.prekeys.kem[used["kem"]]

    # ---------------------------------------------------------------- section 13 / 7.9 / 7.10

    def receive(self, count, order, timeout):
        deadline = time.monotonic() + timeout
        batch = []
        while len(batch) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolError("timeout", "received %d of %d messages" % (len(batch), count))
            try:
                msg = self.conn.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            if msg is None:
                raise ProtocolError("not_connected", "disconnected by the server")
            if isinstance(msg, dict) and msg.get("id") in self.done_server_ids:
                self.conn.call("ack", {"ids": [msg["id"]]})  # a redelivery we already handled
                continue
            batch.append(msg)
        results = []
        for index in (order if order is not None else range(len(batch))):
            msg = batch[index]
            entry = {"index": index, "from": msg.get("from"), "serverId": msg.get("id")}
            try:
                payload, info = self.open_envelope(msg)
                entry.update(ok=True, body=payload["body"], payloadId=payload["id"], sentAt=payload["sentAt"], **info)
                entry.pop("consumed", None)
            except DecryptionFailed as exc:
                entry.update(ok=False, error="decryption_failed", debug=str(exc))
            except ProtocolError as exc:
                entry.update(ok=False, error=exc.code, debug=exc.message)
            # stored (in memory) or judged: acknowledge (7.9, 13) so the server deletes its copy
            if isinstance(msg.get("id"), str):
                self.done_server_ids[msg["id"]] = True
                self.conn.call("ack", {"ids": [msg["id"]]})
            results.append(entry)
        self.ack_receipts()
        return results

    def ack_receipts(self):
        ids = []
        while True:
            try:
                r = self.conn.receipts.get_nowait()
            except queue.Empty:
                break
            if isinstance(r, dict) and isinstance(r.get("id"), str):
                ids.append(r["id"])
        if ids:
            self.conn.call("ack", {"receipts": ids[:1000]})
        return ids


# ==================================================================== the command loop

def serve(args):
    client = Client(args.server, args.user, args.one_time, args.kem_one_time, args.ack_timeout)
    try:
        auth = client.authenticate()
        upload = client.publish_prekeys()
        emit({"event": "ready", "user": args.user, "registered": auth.get("registered"),
              "ids": b64e(client.me.ids_pub), "ik": b64e(client.me.ik_pub), "upload": strip_ok(upload)})
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            reply = {"re": cmd.get("id")}
            try:
                result = dispatch(client, cmd)
                if result is None:
                    emit(dict(reply, ok=True))
                    break
                reply.update(ok=True, **result)
            except ProtocolError as exc:
                reply.update(ok=False, error=exc.code, message=exc.message)
            except DecryptionFailed as exc:
                reply.update(ok=False, error="decryption_failed", message=str(exc))
            emit(reply)
    finally:
        client.conn.close()
    return 0


def strip_ok(res):
    return {k: v for k, v in res.items() if k != "ok"}


def dispatch(client, cmd):
    name = cmd.get("cmd")
    if name == "send":
        envelope, payload, info = client.seal(cmd["to"], cmd["text"], cmd.get("tamper", False))
        return dict(client.send_envelope(cmd["to"], envelope, payload), **info)
    if name == "seal":
        envelope, payload, info = client.seal(cmd["to"], cmd["text"])
        client.held[cmd["tag"]] = (cmd["to"], envelope, payload)
        return dict(info, tag=cmd["tag"], payloadId=payload["id"])
    if name == "release":
        sent = []
        for tag in cmd["tags"]:
            to, envelope, payload = client.held.pop(tag)
            sent.append(dict(client.send_envelope(to, envelope, payload), tag=tag))
        return {"sent": sent}
    if name == "recv":
        return {"messages": client.receive(cmd["count"], cmd.get("order"), cmd.get("timeout", 15))}
    if name == "count":
        return strip_ok(client.count())
    if name == "safety":
        pinned = client.pinned_key(cmd["peer"])
        return {"safetyNumber": safety_number(client.me.ids_pub, client.user, pinned, cmd["peer"])}
    if name == "quit":
        return None
    raise ProtocolError("bad_request", "unknown command %r" % name)


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# ==================================================================== selftest: the document's known answers

def selftest():
    """16.6 info hex, 16.8 KDF/ENCRYPT known answers, 16.12 pinned safety number."""
    checks = {}
    checks["pqxdh_info_hex"] = PQXDH_INFO.hex() == (
        "653265652d636861745f50515844485f435552564532353531395f5348412d3235365f4d4c2d4b454d2d31303234")
    rk, dh_out = bytes(range(0x00, 0x20)), bytes(range(0x20, 0x40))
    ck, mk = bytes(range(0x40, 0x60)), bytes(range(0x60, 0x80))
    new_rk, chain = kdf_rk(rk, dh_out)
    checks["kdf_rk_root"] = new_rk.hex() == "2e2c10466cc3ae42ec2dd087f6684a084d60843f11eb5a8e9ecd5bb232da9592"
    checks["kdf_rk_chain"] = chain.hex() == "4cf3442059ff25a5b0821b36006ebeafa2feefa82df0cd123575d3b605d0b773"
    next_ck, msg_key = kdf_ck(ck)
    checks["kdf_ck_mk"] = msg_key.hex() == "01156abd78ef59f755f1e6945e5d1e2d7ddd1f1e5fe0a164b2f5fa8ad500bfba"
    checks["kdf_ck_next"] = next_ck.hex() == "f0bdefbbad3cf097dccb03f2c87159f7608e2480543eef7741c8f2e7f226e78f"
    ad = b"\xaa" * 132 + encode_header(b"\x11" * 32, 0, 0)
    out = dr_encrypt(mk, b"hello", ad)
    checks["encrypt"] = out.hex() == (
        "4a5f76eaa18fb975c5e57ac415e7c7f94cc4bae00d4c314cfa0ec833722285a668bff02ef3518041c0ad471f2f01641f")
    checks["decrypt"] = dr_decrypt(mk, out, ad) == b"hello"
    a = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key().public_bytes_raw()
    b = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32).public_key().public_bytes_raw()
    checks["safety_number"] = safety_number(a, "alice", b, "bob") == (
        "530140399826419231538441551537558498623675188550254832398074")
    emit({"selftest": checks, "ok": all(checks.values())})
    return 0 if all(checks.values()) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://localhost:5001")
    parser.add_argument("--user")
    parser.add_argument("--one-time", type=int, default=8, help="one-time X25519 prekeys to upload")
    parser.add_argument("--kem-one-time", type=int, default=4, help="one-time ML-KEM prekeys to upload")
    parser.add_argument("--ack-timeout", type=float, default=10.0)
    parser.add_argument("command", choices=["serve", "selftest"])
    args = parser.parse_args(argv)
    if args.command == "selftest":
        return selftest()
    if not args.user or not USERNAME_RE.match(args.user):
        log("error: invalid_username: %r" % args.user)
        return 2
    try:
        return serve(args)
    except ProtocolError as exc:
        log("error: %s: %s" % (exc.code, exc.message))
        return 1


if __name__ == "__main__":
    sys.exit(main())
