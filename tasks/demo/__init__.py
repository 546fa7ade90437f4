"""The demo dataset: a seeded synthetic email corpus written by distinct personas."""

from tasks.demo.generator import (
    INTENT_KINDS,
    RECIPIENTS,
    IntentKind,
    Recipient,
    generate_demo_records,
)
from tasks.demo.personas import PERSONAS, STYLE_TRAITS, Persona, style_checks

__all__ = [
    "INTENT_KINDS",
    "PERSONAS",
    "RECIPIENTS",
    "STYLE_TRAITS",
    "IntentKind",
    "Persona",
    "Recipient",
    "generate_demo_records",
    "style_checks",
]
