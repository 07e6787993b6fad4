"""Framing SIP messages on a byte stream (TCP, TLS): sans-IO, fed with whatever the socket delivered.

Over a stream, Content-Length is the only way to know where a message ends (RFC 3261 section 18.3), so it
is read from the header section wherever it stands among the headers, in its long or compact form, with
any whitespace the grammar allows. A message that announces no length has no body. CRLF keep-alives
between messages (RFC 5626) are consumed and answered with a single CRLF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*\r?$", re.I | re.M)


class FramingError(ValueError):
    """The stream cannot be framed any more: the connection is closed after ``head`` has been answered."""

    def __init__(self, detail: str, head: bytes = b"") -> None:
        super().__init__(detail)
        self.head = head  # the header section, still worth answering (413 or 400) before closing


@dataclass
class Framed:
    messages: list[bytes] = field(default_factory=list)
    pongs: int = 0  # keep-alive pings seen: each is answered with CRLF


class StreamFramer:
    """Cut a byte stream into complete SIP messages, with a bound on what may be buffered."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buffer = b""

    def feed(self, data: bytes) -> Framed:
        """Add received bytes; returns the messages they completed.

        Raises:
            FramingError: a header section or a body over the limit, or a Content-Length that is not a
                number (the rest of the stream cannot be trusted).
        """
        self.buffer += data
        out = Framed()
        while True:
            stripped = self.buffer.lstrip(b"\r\n")
            if stripped != self.buffer:
                if self.buffer.startswith(b"\r\n\r\n"):
                    out.pongs += 1
                self.buffer = stripped
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > self.max_bytes:
                    raise FramingError(f"header section over {self.max_bytes} bytes")
                return out
            head = self.buffer[:end]
            try:
                length = content_length(head)
            except FramingError as exc:
                self.buffer = b""
                raise FramingError(str(exc), head + b"\r\n\r\n") from None
            if length > self.max_bytes:
                self.buffer = b""
                raise FramingError(f"body of {length} bytes (limit {self.max_bytes})", head + b"\r\n\r\n")
            size = end + 4 + length
            if len(self.buffer) < size:
                return out
            out.messages.append(self.buffer[:size])
            self.buffer = self.buffer[size:]


def content_length(head: bytes) -> int:
    """The body length a header section announces (0 when it announces none).

    Raises:
        FramingError: the header is there but is not a number, or it is given twice with different values.
    """
    values = {m.group(1) for m in _LENGTH.finditer(head)}
    if not values:
        return 0
    if len(values) > 1:
        raise FramingError("Content-Length given twice with different values")
    value = values.pop()
    if not value.isdigit() or len(value) > 9:
        raise FramingError(f"Content-Length {value[:20]!r} is not a number")
    return int(value)
