"""The safety gate's thresholds as calibrated, in one place (plain Python: the settings import it too).

Chosen on the development questions with ``bench/calibrate_gate.py`` under the hotline's targets as budgets
(1% wrong, 1% out of scope answered, 15% confirmations); the README gives the cross-validated figures.
``SafetyGate``, ``RetrievalOptions`` and the ``HOTLINE_GATE_*`` settings all default to these values.
``FAR_FROM_EVERY_TOPIC`` is the learned gate's floor (``pipeline/gate_model.py``), kept here with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateThresholds:
    min_margin: float = 0.4
    min_similarity: float = 0.88
    max_out_of_scope: float = 0.1
    out_of_scope_gap: float = 0.0
    confirm_min_score: float = 0.1
    confirm_min_similarity: float = 0.78


CALIBRATED = GateThresholds()
FAR_FROM_EVERY_TOPIC = 0.84  # the rule's confirmation floor when the learned gate got its floor; not tuned with it
