"""Versioned prompt templates: one `.txt` file per prompt, next to the code that uses it.

A template file is named `<family>_v<N>.txt`; its first line may be a `# ...` comment that
says what the prompt is for (it is not sent to the model). The body is split into a system
part and a user part by a line `---user---`. Fields are `{name}` placeholders
(`str.format`); a literal brace is written `{{` or `}}`.
"""

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["PromptTemplate", "USER_SEPARATOR", "load_template", "load_template_file"]

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


@cache
def load_template(folder: Path, name: str) -> PromptTemplate:
    """Load `<folder>/<name>.txt`, e.g. `load_template(PROMPTS, "judge_follow_up_v1")`."""
    return load_template_file(folder / f"{name}.txt", name)


@cache
def load_template_file(path: Path, name: str) -> PromptTemplate:
    """Load the template file `path`, called `name` (in logs, keys and error messages).

    Raises `ValueError` naming the file when it has no `---user---` line.
    """
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        text = "\n".join(lines[1:])
    if USER_SEPARATOR not in text:
        raise ValueError(f"{path}: a prompt template needs a '{USER_SEPARATOR}' line")
    system, user = text.split(USER_SEPARATOR, 1)
    version = name.rsplit("_v", 1)[-1] if "_v" in name else "0"
    return PromptTemplate(name=name, version=version, system=system, user=user)
