"""SIP messages (RFC 3261): parsing with strict limits, and building requests and responses.

Only what a user agent server needs: the start line, headers (compact forms, folded lines, repeated
headers), a body framed by Content-Length, and the few header grammars the hotline reads (Via, CSeq,
name-addr with tag, URI user and host, digest parameters). Anything malformed raises ``SipError`` with
the status code the server should answer with (400 when the request can still be answered at all).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
    "c": "content-type", "k": "supported", "s": "subject", "e": "content-encoding", "o": "event",
    "r": "refer-to", "b": "referred-by", "x": "session-expires", "u": "allow-events",
}
CANONICAL = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate", "max-forwards": "Max-Forwards",
    "content-length": "Content-Length", "content-type": "Content-Type", "record-route": "Record-Route",
    "refer-to": "Refer-To", "referred-by": "Referred-By", "user-agent": "User-Agent",
}
REASONS = {
    100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    482: "Loop Detected", 481: "Call/Transaction Does Not Exist",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported",
}
REQUIRED = ("via", "from", "to", "call-id", "cseq")
# headers a message may carry once only (RFC 3261 section 7.3.1: the others may repeat or be comma lists)
SINGLE = ("from", "to", "call-id", "cseq", "content-length", "content-type", "max-forwards", "expires")
# the methods of RFC 3261 and its common extensions: one the hotline does not serve is answered 405 with
# Allow, any other 501 (section 8.2.1)
KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "NOTIFY", "SUBSCRIBE", "REFER", "MESSAGE",
     "UPDATE", "PRACK", "PUBLISH"}
)
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")


class SipError(ValueError):
    """A message the server cannot accept; ``status`` is the response to give (0: drop it silently)."""

    def __init__(self, status: int, detail: str, message: SipMessage | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.message = message  # what could be parsed, when it is enough to answer


@dataclass
class SipMessage:
    """A request (``method`` set) or a response (``status`` set); header names are kept lower-case."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str, default: str = "") -> str:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), default)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def set(self, name: str, value: str) -> None:
        name = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, value)]

    @property
    def call_id(self) -> str:
        return self.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("cseq"))

    @property
    def branch(self) -> str:
        return via_params(self.get("via")).get("branch", "")

    def encode(self) -> bytes:
        if self.method:
            lines = [f"{self.method} {self.uri} {SIP_VERSION}"]
        else:
            lines = [f"{SIP_VERSION} {self.status} {self.reason}"]
        for name, value in self.headers:
            if name != "content-length":
                lines.append(f"{_canonical(name)}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _canonical(name: str) -> str:
    return CANONICAL.get(name) or "-".join(p.capitalize() for p in name.split("-"))


def parse_message(data: bytes, max_bytes: int = 16384, stream: bool = False) -> SipMessage:
    """One complete SIP message (``stream``: it came over TCP, so Content-Length is exact).

    Raises:
        SipError: 400 for bad syntax, 413 for oversized messages; ``message`` is set when the request
            can still be answered. Status 0 when nothing sensible can be said (not SIP at all).
    """
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    if len(head) > max_bytes:
        raise SipError(0, f"header section of {len(head)} bytes")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipError(0, "headers are not UTF-8") from None
    lines = re.split(r"\r?\n", text)
    message = _start_line(lines[0])
    problem = "" if sep else "no blank line after the headers"
    if message.is_request:
        version, message.reason = message.reason, ""
        if not re.fullmatch(r"SIP/\d+\.\d+", version, re.I):
            problem = f"malformed version {version[:20]!r}"
        elif version.upper() != SIP_VERSION:  # the version is case-insensitive (section 7.1)
            problem = f"unsupported version {version[:20]!r}"
        elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", message.uri):
            problem = f"malformed Request-URI {message.uri[:60]!r}"
        elif not re.match(r"(sips?|tel):", message.uri, re.I):
            problem = f"unsupported URI scheme in {message.uri[:60]!r}"
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:  # folded continuation
            name, value = message.headers[-1]
            message.headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name or not _TOKEN.match(name):
            problem = problem or f"malformed header line {line[:60]!r}"
            continue
        name = COMPACT.get(name, name)
        if name in ("via", "contact", "record-route", "route") and "," in value and value.strip() != "*":
            message.headers.extend((name, part) for part in split_commas(value))
        else:
            message.headers.append((name, value.strip()))
    answerable = message if message.is_request and all(message.get(h) for h in REQUIRED) else None
    try:
        if answerable is not None:
            parse_cseq(message.get("cseq"))
    except SipError:
        answerable = None
    try:
        _check(message, body, problem, max_bytes, stream)
    except SipError as exc:
        raise SipError(exc.status, str(exc), answerable) from None
    return message


def _check(message: SipMessage, body: bytes, problem: str, max_bytes: int, stream: bool) -> None:
    if problem:
        status = 505 if problem.startswith("unsupported version") else 400
        raise SipError(416 if problem.startswith("unsupported URI") else status, problem)
    missing = [h for h in REQUIRED if not message.get(h)]
    if missing:
        raise SipError(400, f"missing {', '.join(missing)}")
    repeated = [h for h in SINGLE if len(message.get_all(h)) > 1]
    if repeated:
        raise SipError(400, f"{', '.join(repeated)} given more than once")
    number, method = parse_cseq(message.get("cseq"))
    if message.is_request and method != message.method:
        raise SipError(400, "CSeq method does not match the request")
    length_text = message.get("content-length", "" if not stream else "0")
    if length_text:
        if not length_text.isdigit():
            raise SipError(400, "Content-Length is not a number")
        length = int(length_text)
        if length > max_bytes:
            raise SipError(413, f"body of {length} bytes (limit {max_bytes})")
        if len(body) < length:
            raise SipError(400, f"body shorter than Content-Length ({len(body)} < {length})")
        body = body[:length]
    if len(body) > max_bytes:
        raise SipError(413, f"body of {len(body)} bytes (limit {max_bytes})")
    message.body = body
    if message.is_request and message.method == "INVITE" and not message.get("contact"):
        raise SipError(400, "INVITE without Contact")
    for value in message.get_all("from") + message.get_all("to") + message.get_all("contact"):
        name_addr_uri(value)


def _start_line(line: str) -> SipMessage:
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[0] == SIP_VERSION:
        if not (parts[1].isdigit() and len(parts[1]) == 3):
            raise SipError(0, "bad status line")
        return SipMessage(status=int(parts[1]), reason=parts[2])
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[2].upper().startswith("SIP/"):
        raise SipError(0, f"not a SIP start line: {line[:60]!r}")
    return SipMessage(method=parts[0], uri=parts[1], reason=parts[2])  # method names are case-sensitive


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    out: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and not quoted and depth <= 0:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    out.append("".join(current).strip())
    return [p for p in out if p]


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not _TOKEN.match(parts[1]):
        raise SipError(400, f"malformed CSeq {value[:40]!r}")
    return int(parts[0]), parts[1]


def unsupported_extensions(message: SipMessage, supported: frozenset[str]) -> list[str]:
    """The option tags in Require that the hotline does not support (answered 420 with Unsupported)."""
    required = [tag.strip() for value in message.get_all("require") for tag in value.split(",")]
    return [tag for tag in required if tag and tag.lower() not in supported]


def via_params(via: str) -> dict[str, str]:
    params = {}
    for part in via.split(";")[1:]:
        key, _, val = part.strip().partition("=")
        params[key.lower()] = val
    return params


def via_transport(via: str) -> str:
    proto = via.split(None, 1)[0] if via.strip() else ""
    return proto.rsplit("/", 1)[-1].upper()


def name_addr_uri(value: str) -> str:
    """The URI of a From/To/Contact value, with or without angle brackets."""
    if "<" in value:
        start = value.index("<") + 1
        end = value.find(">", start)
        if end < 0:
            raise SipError(400, "unclosed '<' in an address")
        return value[start:end]
    return value.split(";", 1)[0].strip()


def tag_of(value: str) -> str:
    rest = value[value.rfind(">") + 1 :] if ">" in value else value
    match = re.search(r";\s*tag=([^;\s]+)", rest, re.I)
    return match.group(1) if match else ""


def uri_user(uri: str) -> str:
    uri = re.sub(r"^(sips?|tel):", "", uri, flags=re.I)
    return uri.split("@", 1)[0].split(";", 1)[0] if "@" in uri or uri.startswith("+") else ""


def uri_host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    rest = re.sub(r"^sips?:", "", uri, flags=re.I).split(";", 1)[0].split("?", 1)[0]
    host = rest.rsplit("@", 1)[-1]
    if host.startswith("["):
        addr, _, port = host[1:].partition("]")
        return addr, int(port[1:]) if port.startswith(":") and port[1:].isdigit() else default_port
    name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else default_port


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def response(request: SipMessage, status: int, reason: str = "", to_tag: str = "", body: bytes = b"",
             extra: list[tuple[str, str]] | None = None) -> SipMessage:
    """A response to ``request``: Via, From, To (with ``to_tag`` added if it has none), Call-ID, CSeq copied."""
    headers = [("via", v) for v in request.get_all("via")]
    to = request.get("to")
    if to_tag and not tag_of(to) and status > 100:
        to = f"{to};tag={to_tag}"
    headers += [("from", request.get("from")), ("to", to), ("call-id", request.call_id),
                ("cseq", request.get("cseq"))]
    if status in (180, 183) or 200 <= status < 300:
        headers += [("record-route", r) for r in request.get_all("record-route")]
    headers += extra or []
    return SipMessage(status=status, reason=reason or REASONS.get(status, "Unknown"), headers=headers, body=body)


def context_headers(language: str, topic: str | None, call_link: str = "") -> list[tuple[str, str]]:
    """A handed-over call's context for the person who picks up (header names of the hotline's own)."""
    headers = [("X-Hotline-Language", language)]
    if topic:
        headers.append(("X-Hotline-Topic", topic))
    if call_link:
        headers.append(("X-Hotline-Call", call_link))
    return headers


def with_headers(uri: str, headers: list[tuple[str, str]]) -> str:
    """``uri`` with ``headers`` embedded (``sip:…?X-A=1&X-B=2``, RFC 3261 section 19.1.1: a PBX that follows
    a REFER to it copies them into its INVITE), values escaped for a SIP URI."""
    if not headers:
        return uri
    query = "&".join(f"{name}={urllib.parse.quote(value, safe='')}" for name, value in headers)
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
