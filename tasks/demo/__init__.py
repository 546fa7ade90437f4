"""The demo dataset: a seeded synthetic email corpus written by distinct personas.

Importing this package registers it as the corpus ``demo`` (`prefbench.tasks.demo.corpus`).
"""

from prefbench.tasks.demo.corpus import DemoOptions, demo_corpus
from prefbench.tasks.demo.generator import (
    INTENT_KINDS,
    RECIPIENTS,
    IntentKind,
    Recipient,
    generate_demo_records,
)
from prefbench.tasks.demo.persona_rules import persona_rules, truth_rules
from prefbench.tasks.demo.personas import PERSONAS, STYLE_TRAITS, Persona, style_checks

__all__ = [
    "DemoOptions",
    "INTENT_KINDS",
    "PERSONAS",
    "RECIPIENTS",
    "STYLE_TRAITS",
    "IntentKind",
    "Persona",
    "Recipient",
    "demo_corpus",
    "generate_demo_records",
    "persona_rules",
    "style_checks",
    "truth_rules",
]
