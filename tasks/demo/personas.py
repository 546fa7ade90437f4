"""The demo corpus's writers: four personas whose emails can be told apart by style alone.

Each persona has a greeting, a sign-off, a body length, a capitalization rule, a punctuation
habit, pet phrases and a formality. `style_checks` says, trait by trait, whether a text shows
a persona's style; every email the demo generator writes for a persona passes all of that
persona's checks and fails several of every other persona's.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import TypeAdapter

Capitalization = Literal["lower", "sentence", "upper_shouting_words"]
"""``lower``: no capital letter at all; ``sentence``: sentences start with a capital and no
word is shouted; ``upper_shouting_words``: at least two words of 3+ letters in capitals."""

Punctuation = Literal["exclamations", "no_final_periods", "ellipses", "semicolons"]
"""``exclamations``: 3+ "!"; ``no_final_periods``: no "." and no "!" at all; ``ellipses``: 2+
"..."; ``semicolons``: at least one ";" and never "!"."""

Formality = Literal["formal", "neutral", "casual"]

STYLE_TRAITS = ("greeting", "sign_off", "length", "capitalization", "punctuation", "pet_phrase")
"""The keys of the dict that `style_checks` returns, in this order."""

_SHOUTED_WORD = re.compile(r"\b[A-Z]{3,}\b")
_LOWERCASE_SENTENCE_START = re.compile(r"[.?!]\s+[a-z]")
_NAME_SLOT = re.compile(r"(\{first\}|\{full\})")


@dataclass(frozen=True)
class Persona:
    """A demo email writer and the style traits that identify them."""

    key: str
    """The record's `user`, e.g. ``"ava"``."""
    full_name: str
    address: str
    """The email address, the record's ``metadata["from"]``."""
    greeting: str
    """The first line, with ``{first}`` or ``{full}`` for the recipient's name."""
    sign_off: str
    """The last line(s), exactly as written."""
    word_range: tuple[int, int]
    """Inclusive bounds on the number of words in the body (between greeting and sign-off)."""
    capitalization: Capitalization
    punctuation: Punctuation
    pet_phrases: tuple[str, ...]
    """Phrases the persona works into every email (matched case-insensitively)."""
    formality: Formality


PERSONAS_FILE = Path(__file__).with_name("personas.yaml")
PERSONAS: tuple[Persona, ...] = TypeAdapter(tuple[Persona, ...]).validate_python(
    yaml.safe_load(PERSONAS_FILE.read_text("utf-8"))
)
"""All demo personas (`personas.yaml`, validated), in the fixed order the generator takes them."""


def style_checks(persona: Persona, text: str) -> dict[str, bool]:
    """Say, for each of `STYLE_TRAITS`, whether `text` (a whole email) shows `persona`'s trait.

    The email is read as: greeting on the first line, sign-off on the last line(s) (as many
    lines as the persona's sign-off has), and the body in between, on which length,
    capitalization, punctuation and pet phrases are judged.
    """
    lines = text.strip().split("\n")
    sign_off_lines = persona.sign_off.count("\n") + 1
    first_line = lines[0].strip() if lines else ""
    body = "\n".join(lines[1:-sign_off_lines]).strip() if len(lines) > sign_off_lines else ""
    return {
        "greeting": _greeting_pattern(persona.greeting).fullmatch(first_line) is not None,
        "sign_off": text.rstrip().endswith(persona.sign_off),
        "length": persona.word_range[0] <= len(body.split()) <= persona.word_range[1],
        "capitalization": _capitalization_holds(persona.capitalization, body),
        "punctuation": _punctuation_holds(persona.punctuation, body),
        "pet_phrase": any(phrase.lower() in body.lower() for phrase in persona.pet_phrases),
    }


def _greeting_pattern(template: str) -> re.Pattern[str]:
    """The greeting template as a regex in which a name slot matches any name."""
    parts = _NAME_SLOT.split(template)
    return re.compile(
        "".join(r"[^\n]+?" if _NAME_SLOT.fullmatch(part) else re.escape(part) for part in parts)
    )


def _capitalization_holds(rule: Capitalization, body: str) -> bool:
    if not body:
        return False
    if rule == "lower":
        return body == body.lower()
    shouted = _SHOUTED_WORD.findall(body)
    if rule == "upper_shouting_words":
        return len(shouted) >= 2
    # "sentence": a capital at every sentence start, and no shouted words.
    return body[0].isupper() and not shouted and not _LOWERCASE_SENTENCE_START.search(body)


def _punctuation_holds(habit: Punctuation, body: str) -> bool:
    if habit == "exclamations":
        return body.count("!") >= 3
    if habit == "no_final_periods":
        return bool(body) and "." not in body and "!" not in body
    if habit == "ellipses":
        return body.count("...") >= 2
    # "semicolons"
    return ";" in body and "!" not in body
