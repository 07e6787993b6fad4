"""SRTP for a call's audio (RFC 3711) with the keys exchanged in SDP (SDES, RFC 4568), through libsrtp
(``pylibsrtp``). Our stream is protected with our key, the caller's is checked and decrypted with theirs;
a packet that fails authentication is dropped (and counted), never played."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pylibsrtp

_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


def _session(key: str, suite: str, direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=base64.b64decode(key), ssrc_type=direction, srtp_profile=_PROFILES[suite])
    return pylibsrtp.Session(policy=policy)


@dataclass
class SrtpContext:
    suite: str
    remote_key: str
    local_key: str
    rejected: int = 0  # packets that failed authentication (or were not SRTP)
    _tx: pylibsrtp.Session = field(init=False, repr=False)
    _rx: pylibsrtp.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tx = _session(self.local_key, self.suite, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self._rx = _session(self.remote_key, self.suite, pylibsrtp.Policy.SSRC_ANY_INBOUND)

    def with_remote(self, suite: str, remote_key: str) -> SrtpContext:
        """The far end changed its key (a re-INVITE): a new inbound session; ours goes on unchanged, so
        that no packet index is ever encrypted twice with our key."""
        if suite == self.suite and remote_key == self.remote_key:
            return self
        changed = SrtpContext.__new__(SrtpContext)
        changed.suite, changed.remote_key, changed.local_key, changed.rejected = suite, remote_key, self.local_key, 0
        changed._tx = self._tx
        changed._rx = _session(remote_key, suite, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        return changed

    def protect(self, packet: bytes) -> bytes:
        return bytes(self._tx.protect(packet))

    def unprotect(self, packet: bytes) -> bytes | None:
        try:
            return bytes(self._rx.unprotect(packet))
        except pylibsrtp.Error:
            self.rejected += 1
            return None
