"""Optional digest authentication of INVITEs (RFC 3261 section 22, RFC 2617 with qop=auth, MD5).

Nonces are stateless: a timestamp signed with a per-process secret, valid for five minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

NONCE_TTL_S = 300


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_params(header: str) -> dict[str, str]:
    """``Digest a="b", c=d`` -> {"a": "b", "c": "d"} (keys lower-case)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'([\w-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', rest)}


def digest_response(user: str, realm: str, password: str, method: str, uri: str, nonce: str,
                    qop: str = "", nc: str = "", cnonce: str = "") -> str:
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class DigestAuth:
    def __init__(self, username: str, password: str, realm: str = "hotline") -> None:
        self.username, self.password, self.realm = username, password, realm
        self._secret = secrets.token_bytes(32)

    def _sign(self, stamp: str) -> str:
        return hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def nonce(self) -> str:
        stamp = str(int(time.time()))
        return base64.b64encode(f"{stamp}:{self._sign(stamp)}".encode()).decode()

    def challenge(self, stale: bool = False) -> str:
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"{extra}'

    def check(self, method: str, authorization: str) -> str:
        """"ok", "stale" (a good answer to an expired nonce) or "bad"."""
        p = parse_params(authorization)
        if not p or p.get("username") != self.username or p.get("realm") != self.realm:
            return "bad"
        try:
            stamp, signature = base64.b64decode(p.get("nonce", ""), validate=True).decode().split(":")
        except (ValueError, UnicodeDecodeError):
            return "bad"
        if not hmac.compare_digest(signature, self._sign(stamp)):
            return "bad"
        if p.get("algorithm", "MD5").upper() != "MD5":
            return "bad"
        expected = digest_response(self.username, self.realm, self.password, method, p.get("uri", ""),
                                   p["nonce"], p.get("qop", ""), p.get("nc", ""), p.get("cnonce", ""))
        if not hmac.compare_digest(expected, p.get("response", "")):
            return "bad"
        return "ok" if time.time() - int(stamp) <= NONCE_TTL_S else "stale"
