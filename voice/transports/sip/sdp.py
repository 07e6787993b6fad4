"""SDP offer/answer (RFC 3264) for one G.711 audio stream with RFC 4733 telephone events.

The hotline speaks PCMU and PCMA at 8 kHz, 20 ms packets. From an offer it picks the first of those in
the caller's order of preference (static payload types 0 and 8, or a dynamic type whose rtpmap names
them), keeps the caller's telephone-event payload type, and follows the stream's direction (hold:
``sendonly``/``inactive``). An offer it cannot use raises ``SdpError`` (answered 488); one it cannot
read raises it too (answered 400).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
import time
from dataclasses import dataclass

PCMU, PCMA = 0, 8
CODEC_NAMES = {PCMU: "PCMU", PCMA: "PCMA"}
DEFAULT_EVENT_PT = 101
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")  # what libsrtp does with SDES
SRTP_POLICIES = ("off", "optional", "required")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(ValueError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status  # 400: unreadable, 488: nothing acceptable


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` line: its tag, suite and the base64 master key and salt (30 bytes)."""

    tag: int
    suite: str
    key: str


def new_key() -> str:
    """A fresh SRTP master key and salt (30 random bytes), base64 for ``inline:``."""
    return base64.b64encode(secrets.token_bytes(30)).decode()


@dataclass(frozen=True)
class MediaOffer:
    """What the far end offered (or answered) for audio, reduced to what the hotline uses."""

    address: str  # where to send RTP (before symmetric RTP learns the real source)
    port: int  # 0: the stream is rejected or disabled
    payload_type: int  # the chosen codec's payload type (0, 8 or a dynamic one)
    codec: int  # PCMU or PCMA
    event_pt: int | None  # telephone-event payload type, if offered
    direction: str = "sendrecv"
    crypto: Crypto | None = None  # SRTP: the far end's key (RTP/SAVP)

    @property
    def on_hold(self) -> bool:
        return self.direction in ("sendonly", "inactive") or self.address in ("0.0.0.0", "::")


def parse_offer(body: bytes, accept: tuple[int, ...] = (PCMU, PCMA), srtp: str = "optional") -> MediaOffer:
    """The audio stream of an SDP offer or answer, with a codec chosen from ``accept`` (``srtp``: the policy)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError(400, "SDP is not UTF-8") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("v=0"):
        raise SdpError(400, "SDP does not start with v=0")
    for ln in lines:
        if len(ln) < 2 or ln[1] != "=" or not ln[0].isalpha():
            raise SdpError(400, f"malformed SDP line {ln[:40]!r}")
    session_addr, session_dir = "", "sendrecv"
    media: list[list[str]] = []
    for ln in lines:
        if ln.startswith("m="):
            media.append([ln])
        elif media:
            media[-1].append(ln)
        elif ln.startswith("c="):
            session_addr = _connection(ln)
        elif ln[2:] in DIRECTIONS:
            session_dir = ln[2:]
    audio = [m for m in media if m[0].startswith("m=audio ")]
    if not audio:
        raise SdpError(488, "no audio stream offered")
    problems = []
    for block in audio:
        try:
            return _audio(block, session_addr, session_dir, accept, srtp)
        except SdpError as exc:
            if exc.status == 400:
                raise
            problems.append(str(exc))
    raise SdpError(488, "; ".join(problems))


def _connection(line: str) -> str:
    parts = line[2:].split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(400, f"bad connection line {line[:40]!r}")
    address = parts[2].split("/", 1)[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(400 if parts[1] == "IP4" and re.match(r"^[\d.]+$", address) else 488,
                       f"connection address {address[:40]!r} is not an IP address") from None
    return address


def _audio(block: list[str], session_addr: str, direction: str, accept: tuple[int, ...], srtp: str) -> MediaOffer:
    parts = block[0][2:].split()
    if len(parts) < 4 or not parts[1].split("/")[0].isdigit() or not all(p.isdigit() for p in parts[3:]):
        raise SdpError(400, f"bad media line {block[0][:60]!r}")
    port = int(parts[1].split("/")[0])
    if port > 65535 or any(int(p) > 127 for p in parts[3:]):
        raise SdpError(400, "port or payload type out of range")
    encrypted = parts[2] in ("RTP/SAVP", "RTP/SAVPF")
    if parts[2] not in ("RTP/AVP", "RTP/AVPF") and not encrypted:
        raise SdpError(488, f"unsupported media profile {parts[2][:20]}")
    if encrypted and srtp == "off":
        raise SdpError(488, "encrypted media (SRTP) is switched off here")
    if not encrypted and srtp == "required" and port != 0:
        raise SdpError(488, "plain RTP refused: this hotline requires SRTP (RTP/SAVP with a=crypto)")
    formats = [int(p) for p in parts[3:]]
    rtpmap: dict[int, str] = {}
    address = session_addr
    for ln in block[1:]:
        if ln.startswith("c="):
            address = _connection(ln)
        elif ln.startswith("a=rtpmap:"):
            number, _, name = ln[9:].partition(" ")
            if number.isdigit():
                rtpmap[int(number)] = name.strip().lower()
        elif ln[2:] in DIRECTIONS:
            direction = ln[2:]
    crypto = _crypto(block) if encrypted else None
    if encrypted and crypto is None:
        raise SdpError(488, f"no usable a=crypto line (suites spoken here: {', '.join(SRTP_SUITES)})")
    if not address:
        raise SdpError(400, "no connection address")
    names = {PCMU: "pcmu/8000", PCMA: "pcma/8000"}
    chosen: tuple[int, int] | None = None
    for fmt in formats:
        mapped = rtpmap.get(fmt, names.get(fmt, ""))
        codec = next((c for c in accept if mapped.startswith(names[c])), None)
        if codec is not None:
            chosen = (fmt, codec)
            break
    if chosen is None:
        raise SdpError(488, f"none of the offered codecs {formats} is PCMU or PCMA")
    event_pt = next((f for f in formats if rtpmap.get(f, "").startswith("telephone-event/8000")), None)
    return MediaOffer(address, port, chosen[0], chosen[1], event_pt, direction, crypto)


def _crypto(block: list[str]) -> Crypto | None:
    """The first ``a=crypto`` line with a suite spoken here and a 30-byte inline key (lifetime and MKI
    parameters are not supported: such lines are passed over)."""
    for ln in block[1:]:
        if not ln.startswith("a=crypto:"):
            continue
        fields = ln[9:].split()
        if len(fields) < 3 or not fields[0].isdigit() or fields[1] not in SRTP_SUITES:
            continue
        if not fields[2].startswith("inline:") or "|" in fields[2]:
            continue
        key = fields[2][7:]
        try:
            if len(base64.b64decode(key, validate=True)) != 30:
                continue
        except (binascii.Error, ValueError):
            continue
        return Crypto(int(fields[0]), fields[1], key)
    return None


def build_sdp(address: str, port: int, codecs: list[tuple[int, int]], event_pt: int | None,
              direction: str = "sendrecv", session_id: int | None = None, version: int = 1,
              crypto: Crypto | None = None) -> bytes:
    """SDP for our side: ``codecs`` are (payload type, codec) in order of preference; ``crypto``: SRTP
    with our key."""
    family = "IP6" if ":" in address else "IP4"
    sid = session_id or int(time.time())
    formats = [pt for pt, _ in codecs] + ([event_pt] if event_pt is not None else [])
    lines = [
        "v=0",
        f"o=hotline {sid} {version} IN {family} {address}",
        "s=Immigration hotline",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} {'RTP/SAVP' if crypto else 'RTP/AVP'} {' '.join(map(str, formats))}",
    ]
    if crypto is not None:
        lines.append(f"a=crypto:{crypto.tag} {crypto.suite} inline:{crypto.key}")
    lines += [f"a=rtpmap:{pt} {CODEC_NAMES[codec]}/8000" for pt, codec in codecs]
    if event_pt is not None:
        lines += [f"a=rtpmap:{event_pt} telephone-event/8000", f"a=fmtp:{event_pt} 0-15"]
    lines += ["a=ptime:20", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def answer_for(offer: MediaOffer, address: str, port: int, session_id: int, version: int, key: str = "") -> bytes:
    """``key``: our SRTP key, used when the offer is encrypted (same tag and suite as the offer's)."""
    crypto = Crypto(offer.crypto.tag, offer.crypto.suite, key) if offer.crypto is not None and key else None
    return build_sdp(address, port, [(offer.payload_type, offer.codec)], offer.event_pt,
                     _ANSWER_DIRECTION[offer.direction], session_id, version, crypto)


def our_offer(address: str, port: int, session_id: int, version: int = 1, key: str = "") -> bytes:
    """For an INVITE without SDP (late offer): we offer (encrypted with ``key``), the ACK answers."""
    crypto = Crypto(1, SRTP_SUITES[0], key) if key else None
    return build_sdp(address, port, [(PCMU, PCMU), (PCMA, PCMA)], DEFAULT_EVENT_PT, "sendrecv", session_id, version,
                     crypto)
