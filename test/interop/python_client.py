#!/usr/bin/python3
"""Minimal e2ee-chat client written from docs/PROTOCOL.md alone (interop test).

Runs on the Debian system Python with python3-jwcrypto (1.1), python3-socketio (5.7),
python3-websocket and python3-cryptography.  Usage:

  python_client.py --server URL --user carol --keys FILE send --to bob "text"
  python_client.py --server URL --user carol --keys FILE receive --count N --timeout S
  python_client.py --server URL --user carol --keys FILE tamper-test --to bob [TEXT]
  python_client.py --server URL --user carol --keys FILE replay-test --to bob [TEXT]
  python_client.py --server URL --user carol --keys FILE login
  python_client.py --server URL --user carol --keys FILE fingerprint

stdout: machine-readable JSON lines.  stderr: diagnostics; the line "ready" once logged in.
Exit codes: 0 success, 1 failure, 2 usage error, 3 timeout.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import re
import sys
import threading
import time

try:
    import socketio  # python3-socketio
    from jwcrypto import jwe, jwk, jws  # python3-jwcrypto
    from cryptography.hazmat.primitives import hashes, padding as sym_padding
    from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError as exc:  # pragma: no cover - reported to the test harness
    sys.stderr.write(
        "missing dependency: %s (apt-get install python3-jwcrypto python3-socketio python3-websocket)\n" % exc
    )
    sys.exit(4)

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
JWS_TYP = "e2ee-chat.message+jws"
# Section 8.2 / 8.3: "exactly" these headers; we send the very bytes the document shows.
JWS_HEADER = '{"alg":"EdDSA","typ":"e2ee-chat.message+jws"}'
JWE_HEADER = '{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","cty":"e2ee-chat.message+jws"}'
JWE_MEMBERS = ("protected", "encrypted_key", "iv", "ciphertext", "tag")
JWE_MAX = {"protected": 2048, "encrypted_key": 1024, "iv": 64, "tag": 128, "ciphertext": 262144}
SEEN_LIMIT = 100000


class ClientError(Exception):
    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def log(*parts):
    sys.stderr.write(" ".join(str(p) for p in parts) + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- section 2: encodings

def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text):
    """Strict base64url decoding: no padding, alphabet only, zero trailing bits (section 2)."""
    if not isinstance(text, str) or not B64URL_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text:  # non-zero trailing bits re-encode differently
        raise ValueError("non-canonical base64url")
    return data


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------- section 4: keys

def check_signing_jwk(key):
    if not isinstance(key, dict) or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        raise ClientError("invalid_key", "not an Ed25519 JWK")
    x = key.get("x")
    if not isinstance(x, str) or len(x) != 43 or len(b64d(x)) != 32:
        raise ClientError("invalid_key", "bad Ed25519 x")
    return {"kty": "OKP", "crv": "Ed25519", "x": x}


def check_encryption_jwk(key):
    if not isinstance(key, dict) or key.get("kty") != "RSA" or key.get("e") != "AQAB":
        raise ClientError("invalid_key", "not an RSA-2048 / e=65537 JWK")
    n = key.get("n")
    if not isinstance(n, str) or len(n) != 342:
        raise ClientError("invalid_key", "bad RSA n length")
    raw = b64d(n)
    if len(raw) != 256 or raw[0] < 0x80 or raw[-1] % 2 == 0:
        raise ClientError("invalid_key", "bad RSA modulus")
    return {"kty": "RSA", "n": n, "e": "AQAB"}


def thumbprint(pub):
    if pub["kty"] == "OKP":
        text = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % pub["x"]
    else:
        text = '{"e":"AQAB","kty":"RSA","n":"%s"}' % pub["n"]
    return b64e(hashlib.sha256(text.encode("ascii")).digest())


def fingerprint(pub):
    hexed = b64d(thumbprint(pub)).hex()
    return " ".join(hexed[i:i + 4] for i in range(0, 64, 4))


class State:
    """Key file: both private JWKs, pinned peer keys and seen payload ids (section 11)."""

    def __init__(self, path, user):
        self.path = path
        self.lock = threading.Lock()
        if os.path.exists(path):
            with open(path, "r", encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("user") not in (None, user):
                raise ClientError("invalid_key", "key file %s belongs to %s" % (path, data.get("user")))
            self.sign_key = jwk.JWK(**data["signingKey"])
            self.enc_key = jwk.JWK(**data["encryptionKey"])
            self.pins = data.get("pins", {})
            self.seen = data.get("seen", [])
        else:
            self.sign_key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
            self.enc_key = jwk.JWK.generate(kty="RSA", size=2048)
            # a 2048-bit jwcrypto key always has a 256-byte modulus with the top bit set
            self.pins = {}
            self.seen = []
            self.user = user
        self.user = user
        self.sign_pub = check_signing_jwk(self.sign_key.export_public(as_dict=True))
        self.enc_pub = check_encryption_jwk(self.enc_key.export_public(as_dict=True))
        assert thumbprint(self.sign_pub) == self.sign_key.thumbprint()
        assert thumbprint(self.enc_pub) == self.enc_key.thumbprint()
        self.save()

    def save(self):
        with self.lock:
            data = {
                "user": self.user,
                "signingKey": self.sign_key.export_private(as_dict=True),
                "encryptionKey": self.enc_key.export_private(as_dict=True),
                "pins": self.pins,
                "seen": self.seen[-SEEN_LIMIT:],
            }
            tmp = self.path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)

    def sign(self, data):
        return self.sign_key.get_op_key("sign").sign(data)


# ---------------------------------------------------------------- transport (sections 1, 5)

class Connection:
    def __init__(self, server, state, timeout):
        self.state = state
        self.timeout = timeout
        self.messages = queue.Queue()
        self.closed = threading.Event()
        self.sio = socketio.Client(reconnection=False)
        self._deliver_in_order()
        self.sio.on("message", self._on_message)
        self.sio.on("presence", lambda data: log("presence", json.dumps(data)))
        self.sio.on("protocol_error", lambda data: log("protocol_error", json.dumps(data)))
        self.sio.on("disconnect", self._on_disconnect)
        try:
            self.sio.connect(server, transports=["websocket"], wait_timeout=timeout)
        except Exception as exc:
            raise ClientError("not_connected", "cannot connect to %s: %s" % (server, exc))

    def _deliver_in_order(self):
        """python-engineio 4.x runs every incoming packet's handler in a new thread, so two `message`
        events can reach our handler out of order (and after the `disconnect` that followed them).
        Our handlers only enqueue, so run them on the reading thread, in arrival order."""
        eio = getattr(self.sio, "eio", None)
        original = getattr(eio, "_trigger_event", None)
        if original is None:
            return

        def trigger(event, *args, **kwargs):
            if event == "message":
                kwargs["run_async"] = False
            return original(event, *args, **kwargs)

        eio._trigger_event = trigger

    def _on_message(self, data):
        # hand over to the main thread, which may call the server (`keys`) while handling it
        self.messages.put((time.monotonic(), data))

    def _on_disconnect(self):
        self.closed.set()
        self.messages.put((time.monotonic(), None))

    def call(self, event, payload):
        try:
            ack = self.sio.call(event, payload, timeout=self.timeout)
        except socketio.exceptions.TimeoutError:
            raise ClientError("timeout", "no ack for %s" % event)
        except socketio.exceptions.SocketIOError as exc:
            raise ClientError("not_connected", str(exc))
        if not isinstance(ack, dict) or "ok" not in ack:
            raise ClientError("internal", "malformed ack for %s: %r" % (event, ack))
        if ack["ok"] is not True:
            err = ack.get("error") or {}
            raise ClientError(err.get("code", "internal"), err.get("message", ""))
        return ack

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:
            pass

    # ------------------------------------------------------------ section 6: authentication

    def authenticate(self):
        user = self.state.user
        challenge = self.call("challenge", {})["challenge"]
        text = "\n".join(["e2ee-chat/v1/login", challenge, user])
        try:
            res = self.call("login", {"username": user, "signature": b64e(self.state.sign(text.encode("utf-8")))})
            return res
        except ClientError as exc:
            if exc.code != "unknown_user":
                raise
        # the challenge was consumed by the failed attempt: ask again
        challenge = self.call("challenge", {})["challenge"]
        text = "\n".join([
            "e2ee-chat/v1/register", challenge, user,
            thumbprint(self.state.sign_pub), thumbprint(self.state.enc_pub),
        ])
        return self.call("register", {
            "username": user,
            "signingKey": self.state.sign_pub,
            "encryptionKey": self.state.enc_pub,
            "signature": b64e(self.state.sign(text.encode("utf-8"))),
        })

    # ------------------------------------------------------------ section 11: pinning

    def peer_keys(self, peer):
        """Returns (signing pub, encryption pub, changed) for peer, pinning on first use."""
        res = self.call("keys", {"username": peer})
        sign_pub = check_signing_jwk(res.get("signingKey"))
        enc_pub = check_encryption_jwk(res.get("encryptionKey"))
        current = {"signing": thumbprint(sign_pub), "encryption": thumbprint(enc_pub)}
        pinned = self.state.pins.get(peer)
        if pinned is None:
            self.state.pins[peer] = {"signingKey": sign_pub, "encryptionKey": enc_pub, **current}
            self.state.save()
            return sign_pub, enc_pub, False
        if pinned["signing"] != current["signing"] or pinned["encryption"] != current["encryption"]:
            return pinned["signingKey"], pinned["encryptionKey"], True
        return sign_pub, enc_pub, False


# ---------------------------------------------------------------- section 8: sealing

def seal_manual(sender_state, recipient_enc_pub, payload_bytes):
    """Sign then encrypt, with the primitives of sections 8.2 and 8.3."""
    signing_input = b64e(JWS_HEADER.encode("utf-8")) + "." + b64e(payload_bytes)
    compact = signing_input + "." + b64e(sender_state.sign(signing_input.encode("ascii")))

    protected = b64e(JWE_HEADER.encode("utf-8"))
    cek = os.urandom(64)
    mac_key, enc_key = cek[:32], cek[32:]
    rsa_pub = jwk.JWK(**recipient_enc_pub).get_op_key("wrapKey")
    encrypted_key = rsa_pub.encrypt(cek, asym_padding.OAEP(
        mgf=asym_padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    iv = os.urandom(16)
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(compact.encode("ascii")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    aad = protected.encode("ascii")
    al = (len(aad) * 8).to_bytes(8, "big")
    tag = hmac.new(mac_key, aad + iv + ciphertext + al, hashlib.sha512).digest()[:32]
    return {"protected": protected, "encrypted_key": b64e(encrypted_key), "iv": b64e(iv),
            "ciphertext": b64e(ciphertext), "tag": b64e(tag)}


def seal_jwcrypto(sender_state, recipient_enc_pub, payload_bytes):
    """The same with jwcrypto, as in the worked example of section 12."""
    inner = jws.JWS(payload_bytes)
    inner.add_signature(sender_state.sign_key, alg="EdDSA", protected=JWS_HEADER)
    outer = jwe.JWE(inner.serialize(compact=True).encode("ascii"), protected=JWE_HEADER)
    outer.add_recipient(jwk.JWK(**recipient_enc_pub))
    flat = json.loads(outer.serialize())
    return {k: flat[k] for k in JWE_MEMBERS}


def make_envelope(state, to, enc_pub, body, impl):
    payload = {"v": 1, "from": state.user, "to": to, "id": b64e(os.urandom(16)), "sentAt": now_ms(), "body": body}
    payload_bytes = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    seal = seal_jwcrypto if impl == "jwcrypto" else seal_manual
    return {"type": "hybrid", "v": 1, "jwe": seal(state, enc_pub, payload_bytes)}, payload


# ---------------------------------------------------------------- section 9: receiving

class Rejected(Exception):
    pass


def open_message(conn, msg):
    """Returns the verified payload, or raises Rejected(debug reason) / ClientError(peer_key_changed)."""
    state = conn.state
    if not isinstance(msg, dict):
        raise Rejected("message is not an object")
    env = msg.get("envelope")
    sender = msg.get("from")
    # step 1
    if not isinstance(env, dict) or env.get("type") != "hybrid" or env.get("v") != 1:
        raise Rejected("not a hybrid v1 envelope")
    if msg.get("to") != state.user:
        raise Rejected("message.to is not me")
    if not isinstance(sender, str) or not USERNAME_RE.match(sender):
        raise Rejected("bad message.from")
    raw = env.get("jwe")
    if not isinstance(raw, dict) or set(raw.keys()) != set(JWE_MEMBERS):
        raise Rejected("jwe must have exactly the five members")
    for name in JWE_MEMBERS:
        if not isinstance(raw[name], str) or len(raw[name]) > JWE_MAX[name]:
            raise Rejected("bad jwe member " + name)
        try:
            b64d(raw[name])
        except ValueError:
            raise Rejected("jwe member %s is not base64url" % name)

    sign_pub, _enc_pub, changed = conn.peer_keys(sender)

    def key_check(reason):
        # section 9: on a step 2/3 failure, report a key change if the directory now serves other keys
        if changed:
            raise ClientError("peer_key_changed", "the keys of %s have changed" % sender)
        raise Rejected(reason)

    # step 2
    try:
        header = json.loads(b64d(raw["protected"]).decode("utf-8"))
    except Exception:
        raise Rejected("bad protected header")
    if header.get("alg") != "RSA-OAEP-256" or header.get("enc") != "A256CBC-HS512" or header.get("cty") != JWS_TYP:
        raise Rejected("unexpected JWE header %r" % header)
    try:
        outer = jwe.JWE(algs=["RSA-OAEP-256", "A256CBC-HS512"])
        outer.deserialize(json.dumps(raw), key=state.enc_key)
        compact = outer.payload.decode("ascii")
    except Exception as exc:
        key_check("JWE: %s" % exc)

    # step 3
    try:
        parts = compact.split(".")
        if len(parts) != 3:
            raise ValueError("not a compact JWS")
        jws_header = json.loads(b64d(parts[0]).decode("utf-8"))
        if jws_header.get("alg") != "EdDSA" or jws_header.get("typ") != JWS_TYP:
            raise ValueError("unexpected JWS header %r" % jws_header)
        inner = jws.JWS()
        inner.allowed_algs = ["EdDSA"]
        inner.deserialize(compact)
        inner.verify(jwk.JWK(**sign_pub), alg="EdDSA")
        payload_bytes = inner.payload
    except Exception as exc:
        key_check("JWS: %s" % exc)
    if changed:
        # the signature verifies with the pinned key: fine, but the directory changed; refuse anyway
        raise ClientError("peer_key_changed", "the keys of %s have changed" % sender)

    # step 4
    try:
        payload = json.loads(payload_bytes.decode("utf-8"))
    except Exception:
        raise Rejected("payload is not JSON")
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise Rejected("payload v != 1")
    if payload.get("from") != sender or payload.get("to") != state.user:
        raise Rejected("payload from/to mismatch")
    pid = payload.get("id")
    if not isinstance(pid, str) or not (16 <= len(pid) <= 64) or not B64URL_RE.match(pid):
        raise Rejected("bad payload id")
    if not isinstance(payload.get("body"), str) or not isinstance(payload.get("sentAt"), int):
        raise Rejected("bad payload body/sentAt")
    # step 5
    if pid in state.seen:
        raise Rejected("replay of %s" % pid)
    state.seen.append(pid)
    state.save()
    return payload


# ---------------------------------------------------------------- commands

def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def login(args, state):
    conn = Connection(args.server, state, args.ack_timeout)
    try:
        res = conn.authenticate()
    except BaseException:
        conn.close()  # otherwise the socket.io threads keep the process alive until the auth timeout
        raise
    log("logged in as %s (registered=%s)" % (res.get("username"), res.get("registered")))
    return conn, res


def recipient_key(conn, to):
    if not USERNAME_RE.match(to):
        raise ClientError("invalid_username", "invalid username %r" % to)
    _sign_pub, enc_pub, changed = conn.peer_keys(to)
    if changed:
        raise ClientError("peer_key_changed", "the keys of %s have changed; refusing to send" % to)
    return enc_pub


def cmd_send(args, state):
    conn, auth = login(args, state)
    try:
        enc_pub = recipient_key(conn, args.to)
        envelope, payload = make_envelope(state, args.to, enc_pub, args.text, args.impl)
        # The payload id doubles as the idempotency key: a resend after a lost ack is stored once.
        res = conn.call("send", {"to": args.to, "id": payload["id"], "envelope": envelope})
        emit({"id": res.get("id"), "sentAt": res.get("sentAt"), "status": res.get("status"),
              "payloadId": payload["id"], "registered": auth.get("registered")})
    finally:
        conn.close()


def cmd_tamper(args, state):
    """Sends a well-formed envelope whose ciphertext has one flipped bit: the recipient must reject it."""
    conn, _auth = login(args, state)
    try:
        enc_pub = recipient_key(conn, args.to)
        envelope, payload = make_envelope(state, args.to, enc_pub, args.text, args.impl)
        ct = bytearray(b64d(envelope["jwe"]["ciphertext"]))
        ct[len(ct) // 2] ^= 0x01
        envelope["jwe"]["ciphertext"] = b64e(bytes(ct))
        res = conn.call("send", {"to": args.to, "envelope": envelope})
        emit({"id": res.get("id"), "sentAt": res.get("sentAt"), "status": res.get("status"),
              "payloadId": payload["id"], "tampered": True})
    finally:
        conn.close()


def cmd_replay(args, state):
    """Sends the same envelope twice: the recipient must accept the first and reject the second."""
    conn, _auth = login(args, state)
    try:
        enc_pub = recipient_key(conn, args.to)
        envelope, payload = make_envelope(state, args.to, enc_pub, args.text, args.impl)
        for _ in range(2):
            res = conn.call("send", {"to": args.to, "envelope": envelope})
            emit({"id": res.get("id"), "sentAt": res.get("sentAt"), "status": res.get("status"),
                  "payloadId": payload["id"]})
    finally:
        conn.close()


def cmd_receive(args, state):
    conn, _auth = login(args, state)
    log("ready")
    deadline = time.monotonic() + args.timeout
    got = 0
    try:
        while got < args.count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError("timeout", "received %d of %d messages" % (got, args.count))
            try:
                _t, msg = conn.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if msg is None:
                raise ClientError("not_connected", "disconnected by the server")
            try:
                try:
                    payload = open_message(conn, msg)
                finally:
                    # Stored (seen ids saved) or judged: acknowledge so the server deletes its copy.
                    if isinstance(msg, dict) and isinstance(msg.get("id"), str):
                        conn.call("ack", {"ids": [msg["id"]]})
            except Rejected as exc:
                if args.debug:
                    log("debug:", exc)
                log(json.dumps({"rejected": "decryption_failed", "from": msg.get("from") if isinstance(msg, dict) else None,
                                "message": "decryption failed"}))
                continue
            except ClientError as exc:
                if exc.code != "peer_key_changed":
                    raise
                log(json.dumps({"rejected": "peer_key_changed", "from": msg.get("from"), "message": exc.message}))
                continue
            emit({"from": msg["from"], "body": payload["body"], "id": msg.get("id"),
                  "payloadId": payload["id"], "sentAt": msg.get("sentAt")})
            got += 1
    finally:
        conn.close()


def cmd_login(args, state):
    conn, auth = login(args, state)
    conn.close()
    emit({"username": auth.get("username"), "registered": auth.get("registered")})


def cmd_fingerprint(args, state):
    emit({"user": state.user, "signing": fingerprint(state.sign_pub), "encryption": fingerprint(state.enc_pub)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://localhost:5001")
    parser.add_argument("--user", required=True)
    parser.add_argument("--keys", required=True, help="JSON key/state file (created on first use, mode 0600)")
    parser.add_argument("--ack-timeout", type=float, default=10.0)
    parser.add_argument("--impl", choices=["manual", "jwcrypto"], default="manual",
                        help="seal with raw primitives (section 8.3) or with jwcrypto (section 12)")
    parser.add_argument("--debug", action="store_true", help="log why a message was rejected")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("send")
    p.add_argument("--to", required=True)
    p.add_argument("text")
    p = sub.add_parser("tamper-test")
    p.add_argument("--to", required=True)
    p.add_argument("text", nargs="?", default="tampered message")
    p = sub.add_parser("replay-test")
    p.add_argument("--to", required=True)
    p.add_argument("text", nargs="?", default="replayed message")
    p = sub.add_parser("receive")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30.0)
    sub.add_parser("login")
    sub.add_parser("fingerprint")
    args = parser.parse_args(argv)

    if not USERNAME_RE.match(args.user):
        log("error: invalid_username: %r does not match ^[a-z][a-z0-9_-]{0,31}$" % args.user)
        return 2
    try:
        state = State(args.keys, args.user)
        {"send": cmd_send, "tamper-test": cmd_tamper, "replay-test": cmd_replay,
         "receive": cmd_receive, "login": cmd_login, "fingerprint": cmd_fingerprint}[args.command](args, state)
    except ClientError as exc:
        log("error: %s: %s" % (exc.code, exc.message))
        return 3 if exc.code == "timeout" else 1
    except Exception as exc:  # pragma: no cover
        log("error: internal: %r" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
