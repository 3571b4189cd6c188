"""Route policy sets: schema and checks (model), the machine's PolicyProgram (translate), offline test (evaluate)."""

from __future__ import annotations

from .evaluate import Evaluation, RuleHit, TestRoute, evaluate, evaluate_chain, parse_test_route
from .model import (
    PolicyAssignment,
    PolicySet,
    Rule,
    check_neighbors,
    check_policy_sets,
    validate_assignment,
)
from .translate import translate

__all__ = [
    "Evaluation",
    "PolicyAssignment",
    "PolicySet",
    "Rule",
    "RuleHit",
    "TestRoute",
    "check_neighbors",
    "check_policy_sets",
    "evaluate",
    "evaluate_chain",
    "parse_test_route",
    "translate",
    "validate_assignment",
]
