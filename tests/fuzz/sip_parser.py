"""Coverage-guided fuzzing of the sans-IO SIP code (atheris): parsing, stream framing, the header
grammars the server reads and SDP. Anything but the documented errors (``SipError``, ``FramingError``,
``SdpError``) is a bug: the server would answer 500 or, worse, lose a call.

    python -m tests.fuzz.sip_parser tests/data/sip_fuzz_corpus -max_total_time=60

The corpus folder holds the seeds (valid and unusual messages) and whatever new inputs a run finds;
``make fuzz-sip`` runs it for ten minutes and keeps what it finds there.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from voice.transports.sip.framing import FramingError, StreamFramer
    from voice.transports.sip.message import (
        SipError,
        name_addr_uri,
        parse_message,
        tag_of,
        unsupported_extensions,
        uri_host_port,
        uri_user,
        via_params,
        via_transport,
    )
    from voice.transports.sip.sdp import SdpError, parse_offer


def one_input(data: bytes) -> None:
    try:
        message = parse_message(data, max_bytes=4096)
    except SipError:
        message = None
    if message is not None:
        _read_like_the_server(message)
    framer = StreamFramer(4096)
    try:
        for chunk in (data[: len(data) // 2], data[len(data) // 2 :]):
            for framed in framer.feed(chunk).messages:
                with contextlib.suppress(SipError):
                    _read_like_the_server(parse_message(framed, max_bytes=4096, stream=True))
    except FramingError:
        pass
    with contextlib.suppress(SdpError):
        parse_offer(data)


def _read_like_the_server(message: object) -> None:
    """What the server reads from a message it accepted: none of it may raise."""
    from voice.transports.sip.message import SipMessage

    assert isinstance(message, SipMessage)
    message.encode()
    if not message.is_request:
        return
    _ = (message.call_id, message.cseq, message.branch)
    for via in message.get_all("via"):
        via_params(via)
        via_transport(via)
    for name in ("from", "to", "contact"):
        value = message.get(name)
        if value:
            uri = name_addr_uri(value)
            tag_of(value)
            uri_user(uri)
            uri_host_port(uri)
    unsupported_extensions(message, frozenset())


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
