"""The topic classifier's training: stable on embeddings that share a large common component."""

from __future__ import annotations

import numpy as np

from pipeline.classifier import train


def _embeddings(rng: np.random.Generator, centres: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, list[str]]:
    """Unit vectors like e5's: a large shared component, a smaller one per class, and noise."""
    dim = centres.shape[1]
    common = np.ones(dim) / np.sqrt(dim)
    rows, labels = [], []
    for k, (centre, per_class) in enumerate(zip(centres, sizes, strict=True)):
        v = 2.0 * common + 0.6 * centre + 0.25 * rng.standard_normal((per_class, dim))
        rows.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        labels += [f"topic-{k}"] * per_class
    return np.vstack(rows).astype(np.float32), labels


def test_a_shared_offset_in_the_vectors_changes_no_probability():
    """Training centres the vectors: uncentred, gradient descent oscillated along the shared component,
    and a big class (the out-of-scope examples) gained or lost ground with it."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((4, 24))
    vectors, labels = _embeddings(rng, centres, [120, 20, 20, 20])
    questions, _ = _embeddings(rng, centres, [5] * 4)
    offset = rng.standard_normal(24).astype(np.float32)
    plain = train(vectors, labels).probabilities(questions)
    shifted = train(vectors + offset, labels).probabilities(questions + offset)
    np.testing.assert_allclose(plain, shifted, atol=1e-4)


def test_training_separates_classes_that_share_a_large_common_component():
    """Even with one class of six times the examples of the others, like the out-of-scope examples."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((6, 24))
    vectors, labels = _embeddings(rng, centres, [240, 40, 40, 40, 40, 40])
    questions, truth = _embeddings(rng, centres, [10] * 6)
    model = train(vectors, labels)
    predicted = [model.topics[i] for i in model.probabilities(questions).argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) >= 0.95
    np.testing.assert_allclose(model.probabilities(questions).sum(axis=1), 1.0, atol=1e-5)
