"""Small readings of requests the user agent needs: where a request came from, INFO keys, NOTIFY results."""

from __future__ import annotations

import re

from voice.transports.sip.message import SipMessage, via_params

KEYS = "0123456789*#ABCD"
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")


def mark_source(message: SipMessage, addr: tuple[str, int]) -> None:
    """RFC 3581: record where the request really came from in its top Via (``received``, ``rport``)."""
    vias = [i for i, (k, _) in enumerate(message.headers) if k == "via"]
    if not vias:
        return
    i = vias[0]
    via = message.headers[i][1]
    params = via_params(via)
    parts = via.split()
    sent_by = parts[1].split(";")[0].rsplit(":", 1)[0] if len(parts) > 1 else ""
    if "rport" in params:
        via = re.sub(r";\s*rport(=\d*)?(?=;|$)", "", via) + f";rport={addr[1]}"
    if "rport" in params or sent_by != addr[0]:
        via += f";received={addr[0]}"
    message.headers[i] = ("via", via)


def dtmf_key(request: SipMessage) -> tuple[str, int]:
    """The key in a SIP INFO body and the status to answer: 200, or 415 for a body type we do not read.

    ``application/dtmf-relay`` carries ``Signal=5``; ``application/dtmf`` the key alone. An empty INFO
    (a keep-alive) or an unreadable key gets 200 and no key.
    """
    kind = request.get("content-type").split(";")[0].strip().lower()
    text = request.body.decode("utf-8", "replace")
    key = ""
    if kind == DTMF_TYPES[0]:
        match = re.search(r"^\s*signal\s*=\s*(\S)", text, re.I | re.M)
        key = match.group(1) if match else ""
    elif kind == DTMF_TYPES[1]:
        key = text.strip()[:1]
    if key and key.upper() in KEYS:
        return key.upper(), 200
    return "", 415 if kind not in (*DTMF_TYPES, "") else 200


def notify_final_status(request: SipMessage) -> int:
    """The final status in a REFER's NOTIFY (a ``message/sipfrag`` body such as ``SIP/2.0 200 OK``), else 0."""
    match = re.match(rb"SIP/2\.0 (\d{3})", request.body.strip())
    status = int(match.group(1)) if match else 0
    return status if status >= 200 else 0
