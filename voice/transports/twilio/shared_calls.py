"""Webhook calls kept in Redis (``HOTLINE_REDIS_URL``): any node, any worker process answers any webhook.

Each webhook takes the call's lock in Redis, restores the engine state from the call's snapshot, runs the
step and writes the state back under a version check (``voice.runtime.cluster.call_states``). The
node that took a call in holds its count in the runtime (admission) until the call ends; when another node
saw the end, a sweep here notices the state is gone and releases the count.

While Redis is unreachable, a call continues on a node that holds a copy of its latest state (the node
that handled its previous webhook, under a load balancer with sticky or round-robin routing a node keeps
copies of the calls it served); its state is written back once Redis answers again. A call with no copy
here gets the spoken apology and a person (``CallBookUnavailable``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import redis

from voice.runtime.call_record import CallRecord
from voice.runtime.cluster import snapshot
from voice.runtime.cluster.call_states import SharedCallStates, StaleState
from voice.runtime.driver import LocalDriver
from voice.runtime.runtime import LiveCall
from voice.runtime.services import Services
from voice.transports.twilio.registry import CallBookUnavailable, Pools, TwilioCall, UnknownCall

log = logging.getLogger(__name__)
_COPIES = 2000  # latest states kept in memory for a Redis outage (a few kB each)


class _LocalToken:
    """A call checked out while Redis was unreachable: this node's own lock for it."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock


class SharedCallBook(Pools):
    def __init__(self, states: SharedCallStates, services: Services, store: Any, sweep_s: float = 5.0,
                 workers: int = 8, downloads: int = 32) -> None:
        super().__init__(workers, downloads)
        self.states = states
        self.services = services
        self.store = store
        self._live: dict[str, LiveCall] = {}  # calls this node took in, until they end
        self._copies: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._local_locks: dict[str, threading.Lock] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._sweep_loop, args=(sweep_s,), name="call-sweep", daemon=True).start()

    # -- the CallBook protocol

    def start(self, sid: str, caller: str | None, make: Callable[[], TwilioCall | Any]) -> TwilioCall | Any | None:
        token = self._lock(sid, self.services.settings.webhook_budget_s)
        if token is None:
            return None  # a repeated voice webhook while the first one still runs
        try:
            version, data, reply = self.states.load(sid)
        except redis.RedisError as exc:
            self._unlock(token)
            raise CallBookUnavailable(str(exc)) from exc
        if data is not None:
            return self._restore(sid, caller, version, data, reply, token)
        made = make()
        if not isinstance(made, TwilioCall):
            self._unlock(token)
            return made
        made.token, made.version = token, 0
        if made.live is not None:
            with self._mutex:
                self._live[sid] = made.live
        return made

    def checkout(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        try:
            token = self._lock(sid, wait_s)
        except CallBookUnavailable:
            return self._checkout_copy(sid, caller, wait_s)
        if token is None:
            return None
        try:
            version, data, reply = self.states.load(sid)
        except redis.RedisError:
            self._unlock(token)
            return self._checkout_copy(sid, caller, wait_s)
        if data is None:
            with self._mutex:
                copy = self._copies.get(sid)
            if copy is None:
                self._unlock(token)
                raise UnknownCall(sid)
            log.warning("call %s: Redis lost its state (restarted?); continuing from this node's copy", sid)
            data, reply = copy[1], str(copy[1].get("reply", ""))  # version stays 0: Redis holds none
        return self._restore(sid, caller, version, data, reply, token)

    def checkin(self, call: TwilioCall) -> None:
        sid = call.driver.state.call_id
        data = snapshot.dump(snapshot.CallSnapshot(
            call.driver.state, call.driver.record.id, call.driver.record.ended, call.driver.followups,
            call.driver.pending_timings, call.waited,
        ))
        version = call.version
        try:
            if isinstance(call.token, _LocalToken):
                version = self.states.save(sid, self.states.current_version(sid), data, call.reply)
            else:
                version = self.states.save(sid, call.version, data, call.reply)
        except StaleState:
            log.error("call %s: its state was changed by another node meanwhile; this step's state is dropped", sid)
        except redis.RedisError as exc:
            log.warning("call %s: Redis unreachable (%s); its state stays on this node until Redis is back", sid, exc)
        finally:
            with self._mutex:
                self._copies[sid] = (version, dict(data, reply=call.reply))
                self._copies.move_to_end(sid)
                while len(self._copies) > _COPIES:
                    self._copies.popitem(last=False)
            self._unlock(call.token)

    def finish(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        try:
            call = self.checkout(sid, caller, wait_s)
        except (UnknownCall, CallBookUnavailable):
            call = None
        with self._mutex:
            self._copies.pop(sid, None)
            live = self._live.pop(sid, None)
        if live is not None:
            live.release()
        if call is None:
            return None
        try:
            self.states.delete(sid)
        except redis.RedisError:
            log.warning("call %s ended while Redis was unreachable; its state expires on its own", sid)
        self._unlock(call.token)
        return call

    def release_all(self) -> None:
        """This node drains: the calls it took in are no longer counted here (other nodes answer them)."""
        with self._mutex:
            held, self._live = list(self._live.values()), {}
        for live in held:
            live.release()

    def close(self) -> None:
        self._stop.set()

    # -- helpers

    def _lock(self, sid: str, wait_s: float) -> Any:
        lock = self.states.lock(sid)
        try:
            return lock if lock.acquire(blocking_timeout=wait_s) else None
        except redis.RedisError as exc:
            raise CallBookUnavailable(str(exc)) from exc

    def _unlock(self, token: Any) -> None:
        if isinstance(token, _LocalToken):
            token.lock.release()
            return
        try:
            token.release()
        except redis.RedisError as exc:  # expired, or Redis went away: it expires on its own
            log.warning("a call lock could not be released (%s)", exc)

    def _checkout_copy(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        with self._mutex:
            copy = self._copies.get(sid)
            lock = self._local_locks.setdefault(sid, threading.Lock())
        if copy is None:
            raise CallBookUnavailable(f"call {sid}: Redis unreachable and no copy of its state on this node")
        if not lock.acquire(timeout=wait_s):
            return None
        version, data = copy
        log.warning("call %s continues on this node's copy of its state (Redis unreachable)", sid)
        return self._restore(sid, caller, version, data, str(data.get("reply", "")), _LocalToken(lock))

    def _restore(self, sid: str, caller: str | None, version: int, data: dict[str, Any], reply: str,
                 token: Any) -> TwilioCall:
        try:
            snap = snapshot.load(data, self.services.engine_config())
        except (ValueError, KeyError, TypeError) as exc:
            self._unlock(token)
            log.error("call %s: unreadable state (%s)", sid, exc)
            raise UnknownCall(sid) from exc
        record = CallRecord(self.store, snap.record_id)
        record.ended = snap.record_ended
        driver = LocalDriver(self.services, call_id=sid, audio_format="ulaw8k", record=record, caller_number=caller)
        driver.state, driver.followups = snap.state, snap.followups
        for stage, ms in snap.timings.items():
            driver.note_timing(stage, ms)
        with self._mutex:
            live = self._live.get(sid)
        return TwilioCall(driver, waited=snap.waited, reply=reply, live=live, version=version, token=token)

    def _sweep_loop(self, every_s: float) -> None:
        """Release the count of calls taken in here whose end another node saw (their state is gone)."""
        while not self._stop.wait(every_s):
            with self._mutex:
                sids = list(self._live)
            for sid in sids:
                try:
                    gone = not self.states.exists(sid)
                except redis.RedisError:
                    break  # Redis away: try again on the next round
                if gone:
                    with self._mutex:
                        live = self._live.pop(sid, None)
                    if live is not None:
                        live.release()
