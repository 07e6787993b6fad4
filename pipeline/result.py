"""The retrieval result handed to the call flow (plain Python, no Haystack import)."""

from __future__ import annotations

from dataclasses import dataclass, field

OUT_OF_SCOPE = "__out_of_scope__"
# a runner-up less probable than this is not offered as the second choice of a confirmation
MIN_OFFERED_SCORE = 0.02


@dataclass(frozen=True)
class FaqAnswer:
    """An answer in the caller's language, or a decision to hand over.

    Attributes:
        topic: Topic id, or None when the gate hands over.
        handover: True when the hotline must not answer and offers a person instead.
        language: Language of ``text`` (the caller's language).
        text: The curated spoken answer, placeholders filled; empty on hand-over.
        legal_basis: Norms the answer rests on.
        as_of: Date the answer was last checked (YYYY-MM-DD).
        score: Similarity of the question to the chosen (or best) topic.
        margin: Lead of the best topic over the runner-up.
        reason: Why the gate decided as it did.
        candidates: Best topics with their scores, best first.
        reviewed: Whether a person has checked this language's text.
        written: The longer written version (text message, web).
        outcome: ``answer``, ``confirm`` (ask the caller whether ``offered`` is meant) or ``handover``.
            A confirmation is a hand-over to any caller that does not know how to confirm.
        offered: The topics a confirmation offers, most probable first (one or two).
        short: The short spoken answer (placeholders filled); empty where the topic has none in this
            language, and then ``text`` is spoken at once.
    """

    topic: str | None
    handover: bool
    language: str
    text: str
    legal_basis: list[str]
    as_of: str
    score: float
    margin: float = 0.0
    reason: str = ""
    candidates: list[tuple[str, float]] = field(default_factory=list)
    reviewed: bool = False
    written: str = ""
    outcome: str = ""
    offered: list[str] = field(default_factory=list)
    short: str = ""

    def __post_init__(self) -> None:
        if not self.outcome:
            object.__setattr__(self, "outcome", "handover" if self.handover else "answer")
