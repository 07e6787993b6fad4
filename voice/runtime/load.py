"""How much recognition the calls in progress will ask for, and how long a question would then wait.

Admission at the moment a call arrives sees only the queue of that moment; the questions of the calls
already taken in come later. So the runtime also predicts: every call in progress asks questions at a
measured rate (questions per call-second, a decaying average that starts from a prior), each takes the
scheduler's measured recognition time, and the recogniser has ``slots`` servers. The waiting time of
such a queue is the Erlang C model (M/M/c): with offered load ``a = λ/μ`` and ``c`` servers, the chance to
wait at all is C(c, a) and P(wait > t) = C·exp(-(cμ - λ)t). Recognition times vary less than an
exponential does, so the model errs on the side of waiting longer, which is the safe side for admission.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_c(servers: int, offered: float) -> float:
    """The probability that a job has to wait, for ``offered`` load (λ/μ) on ``servers`` servers."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    term, below = 1.0, 1.0  # a^k / k!, summed for k < servers
    for k in range(1, servers):
        term *= offered / k
        below += term
    top = term * offered / servers * servers / (servers - offered)
    return top / (below + top)


def wait_quantile_s(rate: float, service_s: float, servers: int, quantile: float = 0.95) -> float:
    """The ``quantile`` of the time a job waits before it starts (inf when the load exceeds capacity)."""
    if rate <= 0:
        return 0.0
    mu = 1.0 / service_s
    spare = servers * mu - rate
    if spare <= 0:
        return math.inf
    waits = erlang_c(servers, rate / mu)
    tail = 1.0 - quantile
    if waits <= tail:
        return 0.0
    return math.log(waits / tail) / spare


@dataclass
class QuestionRate:
    """Questions per call-second, measured with a half-life and blended with a prior.

    Fed with the number of calls in progress and the scheduler's question count at each look; the prior
    (``prior_per_min`` for ``prior_weight_s`` call-seconds) carries the first minutes of a process.
    """

    prior_per_min: float = 2.0
    prior_weight_s: float = 600.0
    half_life_s: float = 1800.0
    call_s: float = 0.0
    questions: float = 0.0
    _at: float | None = None
    _seen: int = 0

    def observe(self, now: float, live_calls: int, questions_total: int) -> None:
        if self._at is None:
            self._at, self._seen = now, questions_total
            return
        elapsed = max(0.0, now - self._at)
        decay = 0.5 ** (elapsed / self.half_life_s)
        self.call_s = self.call_s * decay + live_calls * elapsed
        self.questions = self.questions * decay + max(0, questions_total - self._seen)
        self._at, self._seen = now, questions_total

    @property
    def per_call_s(self) -> float:
        prior = self.prior_per_min / 60.0 * self.prior_weight_s
        return (self.questions + prior) / (self.call_s + self.prior_weight_s)
