"""Versioned prompt templates: one `.txt` file per prompt, next to the code that uses it.

A template file is named `<family>_v<N>.txt` (or `<family>_<label>.txt` for a named version,
such as `judge_email_paper.txt`); its first lines may be `#` comments that say what the prompt
is for and where it comes from (they are not sent to the model; the comment header ends at
the first line that does not start with `#`). The body is split into a system
part and a user part by a line `---user---`. Fields are `{name}` placeholders
(`str.format`); a literal brace is written `{{` or `}}`.
"""

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "PromptTemplate",
    "USER_SEPARATOR",
    "load_template",
    "load_template_file",
    "template_version",
]

USER_SEPARATOR = "---user---"


@dataclass(frozen=True)
class PromptTemplate:
    """A chat prompt with a system part and a user part."""

    name: str
    version: str
    system: str
    user: str

    @property
    def fields(self) -> frozenset[str]:
        """Names of the placeholders the template expects."""
        formatter = string.Formatter()
        names = set()
        for part in (self.system, self.user):
            names.update(field for _, field, _, _ in formatter.parse(part) if field)
        return frozenset(names)

    def render(self, **values: str) -> tuple[str, str]:
        """Fill the placeholders; return `(system, user)`.

        Raises `KeyError` naming the template and the missing field when a value is
        missing, and `ValueError` when an unexpected one is given.
        """
        missing = self.fields - values.keys()
        if missing:
            raise KeyError(f"prompt template {self.name} needs the field(s) {sorted(missing)}")
        extra = values.keys() - self.fields
        if extra:
            raise ValueError(f"prompt template {self.name} has no field(s) {sorted(extra)}")
        return self.system.format(**values).strip(), self.user.format(**values).strip()


def template_version(name: str) -> str:
    """The version in a template's name: N of `<family>_v<N>`, else the part after the last `_`."""
    family, _, last = name.rpartition("_")
    if not family:
        return "0"
    return last[1:] if last[:1] == "v" and last[1:].isdigit() else last


def load_template(folder: Path, name: str) -> PromptTemplate:
    """Load `<folder>/<name>.txt`, e.g. `load_template(PROMPTS, "judge_follow_up_v1")`."""
    return load_template_file(folder / f"{name}.txt", name)


def load_template_file(path: Path, name: str) -> PromptTemplate:
    """Load the template file `path`, called `name` (in logs, keys and error messages).

    Read once per file version: a file edited since (another size or modification time) is
    read again. Raises `ValueError` naming the file when it has no `---user---` line.
    """
    state = path.stat()
    return _parse_template(path, name, state.st_size, state.st_mtime_ns)


@cache
def _parse_template(path: Path, name: str, size: int, mtime_ns: int) -> PromptTemplate:
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("#"):
        lines = lines[1:]
    text = "\n".join(lines)
    if USER_SEPARATOR not in text:
        raise ValueError(f"{path}: a prompt template needs a '{USER_SEPARATOR}' line")
    system, user = text.split(USER_SEPARATOR, 1)
    return PromptTemplate(name=name, version=template_version(name), system=system, user=user)
