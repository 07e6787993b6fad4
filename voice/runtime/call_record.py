"""The one writer of calls to the store: a call's row, its turns, late facts about them, its rating, its end.

Transports, the driver and the streaming session never call the store's write methods themselves: a
call taken in gets a ``CallRecord`` (``open``), a call refused is stored with ``refused``, and everything
else goes through the record (``tests/unit/test_layout.py`` checks that no other module writes). The store
spools what it cannot write while the database is down; anything else that goes wrong while writing is
logged and never breaks the call. ``end`` counts once, however many paths report the end.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class CallRecord:
    """One call's record; ``store`` None (the command line, replay) keeps nothing."""

    def __init__(self, store: Any, call_id: str | None) -> None:
        self.store = store
        self.id = call_id
        self.ended = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, store: Any, transport: str, external_id: str | None = None,
             caller: str | None = None) -> CallRecord:
        """Start the record of a call taken in (the caller's number is stored only as a keyed hash).

        Raises:
            Exception: whatever the store raises when it can neither write nor spool; the transport then
                answers with an error instead of taking a call it cannot keep.
        """
        if store is None:
            return cls(None, None)
        return cls(store, store.start_call(transport, external_id=external_id, caller=caller))

    @staticmethod
    def refused(store: Any, transport: str, caller: str | None, reason: str) -> None:
        """A call that admission control turned away: stored ended ``busy`` so the dashboard counts it."""
        if store is None:
            return
        try:
            store.refuse_call(transport, caller)
        except Exception:
            log.exception("could not store a refused %s call (%s)", transport, reason)

    @staticmethod
    def sms_delivery(store: Any, sms_id: str, status: str) -> None:
        """A delivery report of the messaging service for the SMS ``sms_id`` (the turn that sent it)."""
        if store is None or not sms_id:
            return
        try:
            store.sms_delivery(sms_id, status)
        except Exception:
            log.exception("could not store the delivery report of SMS %s", sms_id)

    @property
    def keeps(self) -> bool:
        return self.store is not None and bool(self.id)

    def turn(self, row: Any) -> None:
        self._write("record_turn", row)

    def update_turn(self, turn: int, **values: Any) -> None:
        self._write("update_turn", turn, **values)

    def rating(self, rating: int) -> None:
        self._write("store_rating", rating)

    def end(self, reason: str, language: str | None = None, handovers: int = 0) -> bool:
        """Close the record; False when it was closed already (a second path reporting the same end)."""
        with self._lock:
            if self.ended:
                return False
            self.ended = True
        self._write("end_call", reason, language, handovers)
        return True

    def _write(self, op: str, *args: Any, **kwargs: Any) -> None:
        if not self.keeps:
            return
        try:
            getattr(self.store, op)(self.id, *args, **kwargs)
        except Exception:
            log.exception("could not store %s for call %s", op, self.id)
