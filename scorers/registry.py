"""Judges, registered by decorator: the profile's `judge.kind` names one.

A judge is a function decorated with `@judge(...)` that turns its typed settings and a tie
policy into an inspect pairwise scorer (both orders of a pair, `prefbench.scorers.pair_score`). The
decorator records the judge's name, the model roles its scorers call (`()` for a local
judge), its settings model (a `JudgeSettingsModel`: strict types, unknown keys rejected,
every field defaulted) and, optionally, a multi-candidate scorer factory (all systems at
once, `prefbench.scorers.multi_judge`). The harness and the tasks find judges here, never by an
if/else on the name. Third-party packages register their own judges the same way, from a
module named in their `[project.entry-points.prefbench]` (`prefbench.core.plugins`), loaded
when a name is not registered yet or when every judge is listed.

A judge may also be configuration: `register_judge_config` registers a new name for a
registered judge with preset settings (a YAML judge file: `prefbench.harness.judge_files`),
e.g. the `llm` judge with its own prompt template, verdict pattern, role and temperature.

A judge's stages are keyed by `judge_key_inputs(name, settings, form)`: the judge's name, the
settings it declares as its key (`key_settings`, by default all of them), the content of the
prompt files its settings name for that form (pairwise or multi-candidate), and, for a judge
from another package, that package's identity (version, code and prompt files:
`prefbench.core.code_identity`). Editing any of them judges again; nothing else does.
"""

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from inspect_ai.scorer import Scorer
from pydantic import BaseModel, ConfigDict, ValidationError

from prefbench.core.code_identity import code_identity
from prefbench.core.errors import PrefbenchInputError
from prefbench.core.fingerprint import fingerprint
from prefbench.core.plugins import broken_plugins_note, load_plugins
from prefbench.scorers.judge_prompts import prompt_label
from prefbench.scorers.outcome import TIE_POLICIES

__all__ = [
    "JudgeDefinition",
    "JudgeForm",
    "JudgeSettingsModel",
    "all_judges",
    "judge",
    "judge_key_inputs",
    "judge_names",
    "lookup_judge",
    "register_judge_config",
    "registered_names",
]

JudgeForm = Literal["pairwise", "multi_candidate"]
"""Which of a judge's scorers a stage runs."""


class JudgeSettingsModel(BaseModel):
    """Base of a judge's settings: strict types, unknown keys are errors, every field defaulted.

    Subclass it with the judge's own fields, each with a default, e.g.
    `max_tokens: int = Field(512, ge=8)`.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def from_file_values(cls, values: Mapping[str, Any], folder: Path) -> dict[str, Any]:
        """Settings as a judge file in `folder` writes them (override to resolve paths)."""
        return dict(values)

    def roles(self) -> tuple[str, ...] | None:
        """The model roles its scorers call with these settings; None: the judge's `roles`."""
        return None

    def prompt_files(self, form: JudgeForm) -> list[Path]:
        """The prompt template files a `form` stage sends with these settings (keyed by content)."""
        return []


PairwiseFactory = Callable[..., Scorer]
"""(settings, tie policy) → a scorer that judges a pair in orders AB and BA. A factory that
also takes `name` gets the judge's registered name (a judge configuration's own)."""
MultiCandidateFactory = Callable[..., Scorer]
"""settings → a scorer that judges all candidates of a sample in every cyclic rotation (and
`name`, as for `PairwiseFactory`)."""
KeySettings = Callable[[Any], dict[str, Any]]
"""settings → the JSON-able values that key the judge's stages."""


def _describe_settings(settings: type[JudgeSettingsModel]) -> str:
    fields = settings.model_fields
    if not fields:
        return "none"
    return ", ".join(f"{name} (default {field.default!r})" for name, field in fields.items())


@dataclass(frozen=True)
class JudgeDefinition:
    """What the harness knows about one judge.

    Attributes:
        name: what a profile's `judge.kind` and the tasks' `judge` argument say.
        roles: the model roles its scorers call; `()` for a judge that calls no model.
        settings: its settings model; a profile's judge section and the tasks'
            `judge_settings` are validated by it.
        pairwise: (settings, tie policy) → its pairwise scorer.
        multi_candidate: settings → its multi-candidate scorer; None when it has none.
        key_settings: settings → the values that key its stages; None keys on all of them.
        max_retries: at most this many extra model calls per judged order or rotation when
            an answer cannot be parsed (the upper bound a cost estimate adds).
        preset: settings a judge configuration gives (`register_judge_config`); the
            profile's settings go over them.
        source: the file a judge configuration was read from, else None.
        order_blind: its verdict cannot depend on the candidates' order (a score per
            candidate, as the similarity judge's), so the report neither prints its position
            tests as findings nor gates it on them (`prefbench.scorers.stats.judge_gate`).
    """

    name: str
    roles: tuple[str, ...]
    settings: type[JudgeSettingsModel]
    pairwise: PairwiseFactory
    multi_candidate: MultiCandidateFactory | None = None
    key_settings: KeySettings | None = None
    max_retries: int = 0
    preset: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    order_blind: bool = False

    def roles_for(
        self, settings: Mapping[str, Any] | JudgeSettingsModel | None = None
    ) -> tuple[str, ...]:
        """The model roles its scorers call with these settings (e.g. the `llm` judge's `role`)."""
        return self.parse_settings(settings).roles() or self.roles

    def parse_settings(
        self, values: Mapping[str, Any] | JudgeSettingsModel | None = None
    ) -> JudgeSettingsModel:
        """Its typed settings from plain values (defaults for the ones not given).

        Bad values and unknown keys are an input error naming each key, the judge's
        settings and the fix.
        """
        if isinstance(values, self.settings):
            return values
        try:
            return self.settings.model_validate({**self.preset, **dict(values or {})})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or '(all)'}: {item['msg']}"
                for item in error.errors()
            )
            raise PrefbenchInputError(
                f"judge '{self.name}' has invalid settings ({problems}); its settings are: "
                f"{_describe_settings(self.settings)}. Fix the profile's `judge` section "
                "(or the task's judge_settings)."
            ) from error

    def pairwise_scorer(
        self, settings: Mapping[str, Any] | JudgeSettingsModel | None, tie_policy: str
    ) -> Scorer:
        """Its pairwise scorer with these settings and tie policy."""
        if tie_policy not in TIE_POLICIES:
            raise PrefbenchInputError(
                f"unknown tie policy '{tie_policy}'; choose one of {list(TIE_POLICIES)}"
            )
        return self.pairwise(
            self.parse_settings(settings), tie_policy, **self._named(self.pairwise)
        )

    def multi_candidate_scorer(
        self, settings: Mapping[str, Any] | JudgeSettingsModel | None
    ) -> Scorer:
        """Its multi-candidate scorer; an input error when the judge has none."""
        if self.multi_candidate is None:
            offered = [judge.name for judge in all_judges() if judge.multi_candidate]
            raise PrefbenchInputError(
                f"judge '{self.name}' has no multi-candidate form; set the profile's "
                f"judge.multi_candidate to false, or choose one of {offered}."
            )
        return self.multi_candidate(
            self.parse_settings(settings), **self._named(self.multi_candidate)
        )

    def _named(self, factory: Callable[..., Any]) -> dict[str, str]:
        """`{"name": ...}` for a factory that takes the judge's name (a configuration's own)."""
        return {"name": self.name} if "name" in inspect.signature(factory).parameters else {}


_JUDGES: dict[str, JudgeDefinition] = {}
_SOURCES: dict[str, str] = {}
"""A judge configuration's file (resolved path) → its judge's name."""


def _origin(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def judge(
    *,
    name: str,
    roles: tuple[str, ...],
    settings: type[JudgeSettingsModel],
    multi_candidate: MultiCandidateFactory | None = None,
    key_settings: KeySettings | None = None,
    max_retries: int = 0,
    order_blind: bool = False,
) -> Callable[[PairwiseFactory], PairwiseFactory]:
    """Register a pairwise scorer factory `(settings, tie_policy) -> Scorer` as judge `name`.

    Args:
        name: the judge's name (`judge.kind` in a profile).
        roles: the model roles its scorers call, `()` when none.
        settings: its settings model, a `JudgeSettingsModel` whose fields all have defaults.
        multi_candidate: settings → its multi-candidate scorer; None when it has none.
        key_settings: settings → the JSON-able values that key its stages; None for all
            settings (`model_dump(mode="json")`).
        max_retries: extra calls at most per judged order or rotation when an answer
            cannot be parsed.
        order_blind: its verdict cannot depend on the candidates' order (see
            `JudgeDefinition`).

    Raises `ValueError` for a settings model that is not a `JudgeSettingsModel` or has a
    field without a default, a negative `max_retries`, or a name already registered by
    another function.
    """
    if not name:
        raise ValueError("a judge needs a name")
    if not (isinstance(settings, type) and issubclass(settings, JudgeSettingsModel)):
        raise ValueError(f"judge '{name}': settings must be a subclass of JudgeSettingsModel")
    required = [field for field, info in settings.model_fields.items() if info.is_required()]
    if required:
        raise ValueError(f"judge '{name}': settings {required} need defaults")
    if max_retries < 0:
        raise ValueError(f"judge '{name}': max_retries must be ≥ 0, got {max_retries}")

    def register(factory: PairwiseFactory) -> PairwiseFactory:
        known = _JUDGES.get(name)
        origin = _origin(factory)
        if known is not None and (_origin(known.pairwise) != origin or known.source is not None):
            raise ValueError(
                f"judge '{name}' is already registered by {_origin(known.pairwise)}; "
                f"{origin} must choose another name"
            )
        _JUDGES[name] = JudgeDefinition(
            name=name,
            roles=tuple(roles),
            settings=settings,
            pairwise=factory,
            multi_candidate=multi_candidate,
            key_settings=key_settings,
            max_retries=max_retries,
            order_blind=order_blind,
        )
        return factory

    return register


def all_judges(*, plugins: bool = True) -> list[JudgeDefinition]:
    """Every registered judge by name; with `plugins` False, only those imported so far."""
    if plugins:
        load_plugins()
    return [_JUDGES[name] for name in sorted(_JUDGES)]


def judge_names() -> list[str]:
    """Names of every registered judge (prefbench's and plug-ins')."""
    return [definition.name for definition in all_judges()]


def registered_names() -> frozenset[str]:
    """Names of the judges registered so far, without loading plug-ins (a cheap check)."""
    return frozenset(_JUDGES)


def lookup_judge(name: str) -> JudgeDefinition:
    """The judge called `name`; an input error listing the known ones and the fix otherwise.

    `name` may also be the file of a judge configuration registered before
    (`register_judge_config`). Plug-ins are loaded only when `name` is not registered yet.
    """
    source = _SOURCES.get(_source_key(name)) if _looks_like_file(name) else None
    if source is not None:
        return _JUDGES[source]
    if name not in _JUDGES:
        load_plugins()
    if name not in _JUDGES:
        raise PrefbenchInputError(
            f"unknown judge '{name}'; known judges: {', '.join(sorted(_JUDGES))}. Fix the "
            "profile's judge.kind (or the --judge option), or install the package that "
            f"registers it.{broken_plugins_note()}"
        )
    return _JUDGES[name]


def _looks_like_file(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def _source_key(name: str) -> str:
    return str(Path(name).expanduser().resolve())


def register_judge_config(
    *, name: str, base: str, settings: Mapping[str, Any], source: str | Path
) -> JudgeDefinition:
    """Register judge `name`: judge `base` with preset `settings`, read from file `source`.

    The settings are validated by the base's settings model now (an input error naming the
    file otherwise); a profile's settings for `name` go over them. Its roles are the ones
    those settings call. Registering the same file again replaces its judge (an edited file
    is read anew); a name that another judge or file holds is an input error.
    """
    source_key = _source_key(str(source))
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise PrefbenchInputError(
            f"judge file {source}: name {name!r} must be letters, digits, '_' or '-'; set its "
            "`name:`"
        )
    try:
        parent = lookup_judge(base)
    except PrefbenchInputError as error:
        raise PrefbenchInputError(f"judge file {source}: `base: {base}`: {error}") from error
    known = _JUDGES.get(name)
    if known is not None and known.source != source_key:
        holder = known.source or _origin(known.pairwise)
        raise PrefbenchInputError(
            f"judge file {source}: the name {name!r} is already taken by {holder}; choose "
            "another `name:`"
        )
    values = parent.settings.from_file_values(settings, Path(source_key).parent)
    configured = replace(parent, name=name, preset={**parent.preset, **values}, source=source_key)
    try:
        typed = configured.parse_settings()
    except PrefbenchInputError as error:
        raise PrefbenchInputError(f"judge file {source}: {error}") from error
    configured = replace(configured, roles=typed.roles() or parent.roles)
    _JUDGES[name] = configured
    _SOURCES[source_key] = name
    return configured


def judge_key_inputs(
    name: str,
    settings: Mapping[str, Any] | JudgeSettingsModel | None = None,
    form: JudgeForm = "pairwise",
) -> dict[str, Any]:
    """What keys a stage that judge `name` scores, in `form`, with these settings.

    `{"judge": name, **key}` where key is the judge's `key_settings(settings)`, or all its
    settings as JSON when it declares none; plus `judge_prompts` (each prompt file's name,
    `prompt_label`, e.g. `email:judge`, and a sha256 of its content) when its settings name
    prompt files, and `judge_code` (package, version, sha256 of its source and prompt files)
    for a judge from another package.
    """
    definition = lookup_judge(name)
    typed = definition.parse_settings(settings)
    if definition.key_settings is not None:
        key = definition.key_settings(typed)
    else:
        key = typed.model_dump(mode="json")
    files = typed.prompt_files(form)
    if files:
        key["judge_prompts"] = sorted(
            [prompt_label(path), fingerprint(path.read_text(encoding="utf-8"))]
            for path in set(files)
        )
    factory = definition.pairwise if form == "pairwise" else definition.multi_candidate
    identity = code_identity(factory)
    if identity:
        key["judge_code"] = identity
    return {**key, "judge": definition.name}
