"""The FAQ query pipeline and the ``Answerer`` that runs it.

``build_query_pipeline`` wires the components; ``FaqAnswerer`` loads the knowledge base, builds (or
loads from cache) the embedded index once in ``warm_up()`` and answers questions.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haystack import Pipeline

from pipeline.classifier import TopicClassifier
from pipeline.components import AnswerComposer, SafetyGate, TopicScorer
from pipeline.embedders import E5TextEmbedder
from pipeline.gate_defaults import CALIBRATED
from pipeline.gate_model import DEFAULT_MODEL
from pipeline.index import FaqIndex, build_index
from pipeline.knowledge import load_knowledge_base
from pipeline.lexical import LexicalMatcher
from pipeline.matcher import TopicMatcher
from pipeline.result import FaqAnswer

log = logging.getLogger(__name__)

# Modules whose classes a serialised pipeline may instantiate (Haystack's ``allowed_modules``).
ALLOWED_MODULES = [
    "pipeline.components", "pipeline.embedders", "pipeline.classifier", "pipeline.matcher", "pipeline.lexical",
]


@dataclass(frozen=True)
class RetrievalOptions:
    """Retrieval and safety-gate settings (gate thresholds calibrated on the development questions)."""

    prompts_dir: Path = Path("prompts")
    office_profile: Path = Path("prompts/office.example.yaml")
    cache_dir: Path | None = Path("var/cache")
    min_margin: float = CALIBRATED.min_margin
    min_similarity: float = CALIBRATED.min_similarity
    max_out_of_scope: float = CALIBRATED.max_out_of_scope
    out_of_scope_gap: float = CALIBRATED.out_of_scope_gap
    confirm_min_score: float = CALIBRATED.confirm_min_score
    confirm_min_similarity: float = CALIBRATED.confirm_min_similarity
    gate_model: Path | None = DEFAULT_MODEL  # None: the threshold rule above decides
    threads: int = 0


def build_query_pipeline(index: FaqIndex, options: RetrievalOptions) -> Pipeline:
    """Question text (and optional language) in, ``FaqAnswer`` out."""
    pipe = Pipeline()
    pipe.add_component("embedder", E5TextEmbedder(threads=options.threads))
    matcher = TopicMatcher()
    matcher.attach(index)
    pipe.add_component("matcher", matcher)
    topic_classifier = TopicClassifier()
    topic_classifier.model = index.model
    pipe.add_component("classifier", topic_classifier)
    lexical = LexicalMatcher()
    lexical.attach(index)
    pipe.add_component("lexical", lexical)
    pipe.add_component("scorer", TopicScorer())
    pipe.add_component(
        "gate",
        SafetyGate(
            min_margin=options.min_margin,
            min_similarity=options.min_similarity,
            max_out_of_scope=options.max_out_of_scope,
            out_of_scope_gap=options.out_of_scope_gap,
            confirm_min_score=options.confirm_min_score,
            confirm_min_similarity=options.confirm_min_similarity,
            model=str(options.gate_model) if options.gate_model else "",
        ),
    )
    pipe.add_component(
        "composer",
        AnswerComposer(prompts_dir=str(options.prompts_dir), office_profile=str(options.office_profile)),
    )
    pipe.connect("embedder.embedding", "matcher.embedding")
    pipe.connect("embedder.embedding", "classifier.embedding")
    pipe.connect("classifier.probabilities", "scorer.probabilities")
    pipe.connect("matcher.best", "scorer.best")
    pipe.connect("lexical.lexical", "scorer.lexical")
    pipe.connect("scorer.candidates", "gate.candidates")
    pipe.connect("scorer.evidence", "gate.evidence")
    pipe.connect("gate.decision", "composer.decision")
    pipe.connect("matcher.guessed_language", "composer.guessed_language")
    return pipe


def load_query_pipeline(yaml_text: str, index: FaqIndex) -> Pipeline:
    """Rebuild a pipeline from its YAML and attach the index (documents and classifier) to it."""
    pipe = Pipeline.loads(yaml_text, allowed_modules=ALLOWED_MODULES)
    matcher: Any = pipe.get_component("matcher")
    matcher.attach(index)
    topic_classifier: Any = pipe.get_component("classifier")
    topic_classifier.model = index.model
    lexical: Any = pipe.get_component("lexical")
    lexical.attach(index)
    return pipe


def query_inputs(text: str, language: str | None) -> dict[str, Any]:
    """The pipeline's inputs for one question: the text goes to the embedder and the word matcher, the
    caller's language (None: infer it) to the word matcher and the composer."""
    return {"embedder": {"text": text}, "lexical": {"text": text, "language": language},
            "composer": {"language": language}}


class FaqAnswerer:
    """The ``Answerer`` port over the FAQ pipeline. Heavy work happens once, in ``warm_up()``."""

    def __init__(self, options: RetrievalOptions | None = None) -> None:
        self.options = options or RetrievalOptions()
        self.pipeline: Pipeline | None = None
        self.languages: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self.pipeline is not None:
                return
            started = time.perf_counter()
            kb = load_knowledge_base(self.options.prompts_dir)
            self.languages = kb.languages
            index = build_index(kb, self.options.cache_dir)
            pipe = build_query_pipeline(index, self.options)
            pipe.warm_up()
            self.pipeline = pipe
            log.info(
                "FAQ pipeline ready: %d entries, %d documents, %.2fs",
                len(kb.entries),
                len(index),
                time.perf_counter() - started,
            )

    def answer(self, text: str, language: str | None = None) -> FaqAnswer:
        """Answer a question; ``language`` None infers it from the closest paraphrases."""
        self.warm_up()
        assert self.pipeline is not None
        if language is not None and language not in self.languages:
            raise ValueError(f"unknown language {language!r}; expected one of {', '.join(self.languages)}")
        result = self.pipeline.run(query_inputs(text, language))
        answer: FaqAnswer = result["composer"]["answer"]
        return answer

    def answer_topic(self, topic: str, language: str) -> FaqAnswer:
        """The curated answer of a topic chosen on the keypad, through the same composer."""
        self.warm_up()
        assert self.pipeline is not None
        composer: Any = self.pipeline.get_component("composer")
        decision = {"topic": topic, "score": 1.0, "margin": 1.0, "reason": "chosen on the keypad", "candidates": []}
        answer: FaqAnswer = composer.run(decision=decision, guessed_language=language)["answer"]
        return answer
