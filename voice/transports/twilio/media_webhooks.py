"""The webhooks around a Media Streams call: the voice webhook connects the stream (to this node, or with
several nodes to the least-loaded one), and ``stream-ended`` says what follows when the stream closes."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, current_app, request

from voice.core.engine_types import Transfer
from voice.core.office_hours import is_open
from voice.runtime.cluster.nodes import NodeRegistry
from voice.runtime.runtime import Admission
from voice.transports.twilio import twiml
from voice.transports.twilio.context import Replies, services, verify_signature, xml
from voice.transports.twilio.intake import busy, caller, open_record, take_in
from voice.transports.twilio.stream_calls import StreamCalls

log = logging.getLogger(__name__)
bp = Blueprint("twilio_streams", __name__, url_prefix="/twilio")
bp.before_request(verify_signature)


def connect_stream(sid: str) -> Response:
    """Real-time mode: the call continues over a Media Stream (``media_stream.py``)."""
    streams: StreamCalls = current_app.extensions["hotline_streams"]
    office_open = is_open(services().phrases.content.office)
    store_id = streams.known_call(sid)  # a repeated webhook (Twilio retries) keeps its call record
    nodes: NodeRegistry | None = current_app.extensions.get("hotline_nodes")
    node_url = None
    if store_id is None and nodes is not None and (earlier := streams.handed_before(sid)) is not None:
        store_id, node_url = earlier  # repeated after a hand-over: the same record, the same node
    elif store_id is None and nodes is not None:
        try:
            target = nodes.pick(services().settings.admission_wait_s)
        except redis.RedisError as exc:
            log.warning("node registry unreachable (%s); the stream stays on this node", exc)
        else:
            if target is None:
                return busy("twilio-stream", Admission(False, "cluster", 0.0, 0))
            if target.node_id != nodes.node_id or services().settings.workers > 1:
                # admitted for the cluster; the process that gets the stream counts it when it starts
                store_id = open_record("twilio-stream", sid).id or ""
                streams.hand_over(sid, store_id, office_open, target.url)
                node_url = target.url
    if store_id is None:
        taken = take_in("twilio-stream", sid)
        if isinstance(taken, Response):
            return taken
        record, live = taken
        store_id = record.id or ""
        streams.register(sid, store_id, office_open, live, caller())
    base = Replies.here().base
    scheme, _, host = (node_url or base).partition("://")
    ws_base = f"{'wss' if scheme == 'https' else 'ws'}://{host}"
    parameters = {"token": streams.token(sid)}
    if node_url and caller():
        parameters["caller"] = caller() or ""  # to the node the stream goes to, through Twilio: never stored
    return xml(twiml.connect_stream(f"{ws_base}/twilio/stream", parameters, f"{base}/twilio/stream-ended"))


@bp.post("/stream-ended")
def stream_ended() -> Response:
    """Twilio asks what follows a closed Media Stream: a transfer to a person, or the end of the call."""
    streams: StreamCalls = current_app.extensions["hotline_streams"]
    sid = request.form.get("CallSid", "")
    with streams.lock:
        outcome = streams.outcomes.pop(sid, None)
        session = streams.active.get(sid)
    if session is not None:
        session.end("stream-closed")
    known = session or streams.recent(sid)
    wanted = (known.transfer_to if known else None) or Transfer(known.driver.state.language if known else "de")
    if outcome is None and known is None:  # the stream ran on another node
        elsewhere = streams.outcome_elsewhere(sid)
        if elsewhere is not None:
            outcome = elsewhere["outcome"]
            wanted = Transfer(elsewhere["language"], elsewhere.get("topic"))
    replies = Replies.here()
    if outcome == "transfer":
        return xml(twiml.after_stream(*replies.dial(wanted)))
    if outcome is None and session is not None:  # the stream broke mid-call: apologise, offer a person
        return xml(replies.fallback(wanted.language))
    return xml(twiml.after_stream(None))
