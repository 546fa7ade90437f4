"""The demo personas' true preferences, stated as rules a writer can follow.

The positive control (`prefbench.solvers.positive_control`) writes a demo user's test emails with
these rules: they are derived from the persona definition that generated the user's emails
(`personas.yaml`), never from a test email, so they are what a perfect preference agent
would write. One rule per style trait that `style_checks` verifies, plus the register.
"""

from prefbench.tasks.demo.generator import DATASET
from prefbench.tasks.demo.personas import PERSONAS, Capitalization, Formality, Persona, Punctuation

__all__ = ["persona_rules", "truth_rules"]

CAPITALIZATION_RULES: dict[Capitalization, str] = {
    "lower": "Write everything in lowercase: no capital letter anywhere, not even for names.",
    "sentence": "Start every sentence with a capital letter; never write a word in all capitals.",
    "upper_shouting_words": "Write one or two important words in ALL CAPITALS for emphasis.",
}
PUNCTUATION_RULES: dict[Punctuation, str] = {
    "exclamations": "End most sentences with an exclamation mark (at least three in the body).",
    "no_final_periods": (
        "Never use a period or an exclamation mark; put each sentence on its own line."
    ),
    "ellipses": "End sentences with an ellipsis (...) instead of a period.",
    "semicolons": "Join two sentences with a semicolon once; never use an exclamation mark.",
}
FORMALITY_RULES: dict[Formality, str] = {
    "formal": "Keep a formal, polite register with complete sentences.",
    "neutral": "Keep a plain, matter-of-fact register.",
    "casual": "Keep a casual, friendly register, like a message to a friend.",
}


def _greeting_rule(persona: Persona) -> str:
    pattern = persona.greeting.format(first="<first name>", full="<full name>")
    if persona.capitalization == "lower":
        pattern = pattern.lower()
    return f'Open with the line "{pattern}", with the recipient\'s name in its place.'


def _sign_off_rule(sign_off: str) -> str:
    lines = sign_off.split("\n")
    if len(lines) == 1:
        return f'End with exactly this sign-off line: "{sign_off}".'
    quoted = " then ".join(f'"{line}"' for line in lines)
    return f"End with exactly these sign-off lines: {quoted}."


def persona_rules(persona: Persona) -> str:
    """The persona's style as bullet-point rules, in the order of `STYLE_TRAITS`."""
    low, high = persona.word_range
    phrases = "; ".join(f'"{phrase}"' for phrase in persona.pet_phrases)
    rules = [
        _greeting_rule(persona),
        _sign_off_rule(persona.sign_off),
        f"Keep the body between {low} and {high} words.",
        CAPITALIZATION_RULES[persona.capitalization],
        PUNCTUATION_RULES[persona.punctuation],
        f"Work one of these phrases into the body: {phrases}.",
        FORMALITY_RULES[persona.formality],
    ]
    return "\n".join(f"- {rule}" for rule in rules)


def truth_rules(dataset: str, user: str) -> str | None:
    """The rules of the demo persona who is `user`; None outside the demo corpus or persona."""
    if dataset != DATASET:
        return None
    persona = next((persona for persona in PERSONAS if persona.key == user), None)
    return persona_rules(persona) if persona is not None else None
