"""The retrieval result handed to the call flow (plain Python, no Haystack import)."""

from __future__ import annotations

from dataclasses import dataclass, field

OUT_OF_SCOPE = "__out_of_scope__"


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
