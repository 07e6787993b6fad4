"""SIP transactions as pure state machines: messages and clock readings in, what to send and when out.

The hotline sends few requests of its own (BYE and REFER, both non-INVITE) and answers INVITEs whose
2xx it must repeat until the ACK arrives. Neither object touches a socket or a clock: the caller passes
``now`` and asks when the next timer is due (RFC 3261 section 17.1.2 and 13.3.1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

T1, T2 = 0.5, 4.0  # RFC 3261 round-trip estimate and the longest retransmission interval
TIMEOUT_S = 64 * T1  # timer F (and the UAS's give-up for an unacknowledged 2xx)


class TxState(Enum):
    TRYING = "trying"  # sent, nothing heard
    PROCEEDING = "proceeding"  # a provisional response came
    TERMINATED = "terminated"  # a final response came, or it timed out


class TimerOutcome(Enum):
    WAIT = "wait"  # nothing to do yet (or any more)
    RESEND = "resend"  # send the same bytes again
    TIMED_OUT = "timed-out"  # no final response in time: the transaction failed


@dataclass(eq=False)
class ClientTransaction:
    """A non-INVITE request sent by the hotline (RFC 3261 figure 6): timers E and F."""

    branch: str
    method: str
    data: bytes
    reliable: bool
    started: float
    state: TxState = TxState.TRYING
    interval: float = T1
    due: float = 0.0

    def __post_init__(self) -> None:
        self.due = self.started + (TIMEOUT_S if self.reliable else T1)

    @property
    def done(self) -> bool:
        return self.state is TxState.TERMINATED

    def on_response(self, status: int) -> bool:
        """Feed a response's status; True when it was final (the transaction ends with it)."""
        if self.done:
            return False
        if status < 200:
            self.state = TxState.PROCEEDING
            return False
        self.state = TxState.TERMINATED
        return True

    def on_timer(self, now: float) -> TimerOutcome:
        if self.done or now < self.due:
            return TimerOutcome.WAIT
        if now - self.started >= TIMEOUT_S - 1e-9:
            self.state = TxState.TERMINATED
            return TimerOutcome.TIMED_OUT
        # timer E doubles up to T2 while trying; once a provisional response came, it stays at T2
        self.interval = T2 if self.state is TxState.PROCEEDING else min(self.interval * 2, T2)
        self.due = min(now + self.interval, self.started + TIMEOUT_S)
        return TimerOutcome.RESEND


@dataclass(eq=False)
class AnswerRetransmission:
    """The 2xx to an INVITE over UDP, repeated (T1 doubling to T2) until the ACK or 64*T1 (section 13.3.1.4)."""

    started: float
    interval: float = T1
    due: float = 0.0
    acked: bool = False

    def __post_init__(self) -> None:
        self.due = self.started + T1

    def on_ack(self) -> None:
        self.acked = True

    def on_timer(self, now: float) -> TimerOutcome:
        if self.acked or now < self.due:
            return TimerOutcome.WAIT
        if now - self.started >= TIMEOUT_S - 1e-9:
            self.acked = True  # nothing more to repeat
            return TimerOutcome.TIMED_OUT
        self.interval = min(self.interval * 2, T2)
        self.due = min(now + self.interval, self.started + TIMEOUT_S)
        return TimerOutcome.RESEND
