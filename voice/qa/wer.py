"""Word error rate, for ASR tests, benchmarks and replay reports."""

from __future__ import annotations

import re
import unicodedata


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation (Unicode-aware; Chinese is split into characters)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    words: list[str] = []
    for token in text.split():
        if re.search(r"[\u4e00-\u9fff]", token):
            words.extend(ch for ch in token)
        else:
            words.append(token)
    return words


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference length."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)
