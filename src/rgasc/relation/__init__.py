"""The scene-event relation R_SE: maths (pure), the artefact, building it, the lookup."""

from rgasc.relation.build import RELATION_SPLITS, compute_relation, run_relation
from rgasc.relation.io import Relation, load_relation, save_relation
from rgasc.relation.lookup import evaluate_lookup, lookup_predictions
from rgasc.relation.matrix import (
    event_evidence,
    event_to_scene,
    informative_events,
    relation_matrix,
    top_events,
)

__all__ = [
    "RELATION_SPLITS",
    "Relation",
    "compute_relation",
    "evaluate_lookup",
    "event_evidence",
    "event_to_scene",
    "informative_events",
    "load_relation",
    "lookup_predictions",
    "relation_matrix",
    "run_relation",
    "save_relation",
    "top_events",
]
