"""The scoring method's parameters, under a versioned name.

Behaviour never changes behind an existing name: changing any default here means a new
``version``, so every stored score can say exactly which method made it.
"""

from __future__ import annotations

import msgspec

__all__ = ["DEFAULT_METHOD", "METHODS", "METHOD_V1", "METHOD_V2", "MethodConfig"]


class MethodConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Parameters of the anchor-regression scoring method."""

    name: str = "anchor-regression"
    version: int = 1
    # Level estimation: ridge regression over every reference response of the rubric, with
    # extra weight on those of the same question and of the same dimension.
    ridge_alpha: float = 0.5
    same_question_weight: float = 1.0
    same_dimension_weight: float = 1.0
    # Undo ridge's shrinkage towards the mean level, calibrated on the references' own
    # leave-one-out estimates; at most this factor.
    max_stretch: float = 2.5
    # Local term: similarity-weighted level of the top_k nearest references of the same
    # question and dimension, blended in at local_weight; their spread measures vagueness.
    top_k: int = 5
    local_weight: float = 0.3
    local_temperature: float = 0.02
    # A sentence counts when its relevance is at least this share of the best sentence's.
    relevant_share: float = 0.3
    # Guards.
    min_words: int = 5
    # Off-topic: no sentence reaches this share of the question's typical similarity (the
    # median similarity of each of its references to its nearest other reference).
    off_topic_share: float = 0.5
    copied_reference_similarity: float = 0.96
    copied_text_overlap: float = 0.8
    scenario_overlap: float = 0.6
    keyword_list_function_share: float = 0.1
    # Red flags: a sentence fires one when it is closer to it than to any reference above the
    # scale's minimum, and at least this similar.
    red_flag_similarity: float = 0.55
    red_flag_penalty: float = 0.15  # share of the scale's span taken off per firing sentence
    max_red_flag_hits: int = 2
    # Explanation size.
    evidence_per_dimension: int = 3
    matches_per_evidence: int = 3
    # Method v2 (stacked levels; see screening.stacked): nearest-anchor shares, the grids the
    # member and stacked regularisation strengths are chosen from by cross-validation, the
    # model-answer view of each anchor, the seed of every fold split.
    neighbours_k: int = 7
    neighbours_temperature: float = 0.05
    member_c_grid: tuple[float, ...] = (1.0, 10.0, 100.0)
    stack_c_grid: tuple[float, ...] = (0.1, 1.0, 10.0)
    ridge_alpha_grid: tuple[float, ...] = (0.1, 0.5, 2.0)
    model_answer_view: bool = True
    seed: int = 0
    # Method v2: a sentence sharing this share of its word pairs with the prompt restates the
    # scenario and is set aside.
    restated_scenario_overlap: float = 0.25

    @property
    def learned(self) -> bool:
        """Whether levels come from the stacked learned model (v2) rather than anchor regression (v1)."""
        return self.version >= 2

    @property
    def method_id(self) -> str:
        """The versioned name recorded in every score, e.g. ``screening.anchor-regression.v1``."""
        return f"screening.{self.name}.v{self.version}"


METHOD_V1 = MethodConfig()
METHOD_V2 = MethodConfig(name="stacked-levels", version=2)
METHODS = {m.method_id: m for m in (METHOD_V1, METHOD_V2)}
DEFAULT_METHOD = METHOD_V2
