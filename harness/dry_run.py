"""`prefbench run --dry-run`: the jobs a run needs, their tokens and cost, before running it.

The plan follows the pipeline (`harness.pipeline`) stage by stage and each system's declared
call plan (`solvers.ModelCall`); nothing is run, no model is loaded and no run folder is made:

- intents: one call per temperature (`tasks.intents.TEMPERATURES`) per record without one;
- build: each system's calls per training record, and one adapter per user when it trains;
- generation: each system's calls per test record (`--limit` applies), and the cross-user
  (K×K personalization) stage when `metrics.personalization_system` is set;
- judge: the reference system against each other system, both orders per test record, plus
  at most one retry per order when the LLM judge's answer cannot be parsed; with
  `judge.multi_candidate`, all systems in one prompt, one call per cyclic rotation.

Input tokens are counted on the real prompts (the records through the prompt templates).
Text the run has not written yet (intents, drafts, rules, candidates) is counted at its whole
`max_tokens` budget. Output tokens are upper bounds: `max_tokens` per call. A plan counts a
fresh run; a re-run reuses finished stages and cached calls, and costs less.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rich import box
from rich.table import Table

from core.errors import PrefbenchInputError
from core.templates import load_template
from harness.cost import price_list, price_of, usd
from harness.models import SMOLLM2
from harness.profile import GenerationSettings, ModelSpec, Profile
from scorers.llm_judge import judge_messages, judge_template_for
from solvers import GenerationSystem, lookup_system
from solvers.few_shot import choose_examples, render_examples
from solvers.registry import GROUND_TRUTH, TRAIN_EXAMPLES, ModelCall
from solvers.writer import render_prompt
from tasks.corpora.registry import corpus_text_kind
from tasks.demo import generate_demo_records
from tasks.intents import PROMPTS as INTENT_PROMPTS
from tasks.intents import TEMPERATURES
from tasks.intents import TEMPLATE as INTENT_TEMPLATE
from tasks.records import Record, read_records, records_by_user
from tasks.samples import record_to_sample

CHARS_PER_TOKEN = 4
JUDGE_ATTEMPTS = 2
"""The LLM judge asks again once when it cannot parse an answer (`scorers.llm_judge`)."""


def profile_records(profile: Profile) -> list[Record]:
    """The records a run of `profile` starts from, read or generated without running anything.

    Raises `PrefbenchInputError` naming the path and the `prefbench data prepare` command
    when a `records` dataset's file does not exist.
    """
    dataset = profile.dataset
    if dataset.kind == "demo":
        return generate_demo_records(
            personas=dataset.personas,
            records_per_persona=dataset.records_per_persona,
            seed=profile.seed,
            test_fraction=dataset.test_fraction,
        )
    assert dataset.path is not None
    path = Path(dataset.path)
    if not path.is_file():
        raise PrefbenchInputError(
            f"records file {path} (the profile's dataset.path) does not exist: prepare it with "
            f"`prefbench data prepare enron --source PATH --out {path.parent}` (or new_yorker), "
            "or point dataset.path at a records.jsonl file"
        )
    return read_records(path)


@dataclass(frozen=True)
class TokenCounter:
    """How a role's tokens are counted: a local tokenizer, or about 4 characters per token."""

    method: str
    count: Callable[[str], int]


def _count_characters(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


CHARACTER_ESTIMATE = TokenCounter(f"~{CHARS_PER_TOKEN} characters per token", _count_characters)


def _local_tokenizer_source(spec: ModelSpec) -> str | None:
    """A folder or hub id to load the model's tokenizer from, if it may be on disk already."""
    if spec.model == SMOLLM2:
        from core.offline_models import SMOLLM2_NAME, cache_root

        folder = cache_root() / "models" / SMOLLM2_NAME  # never converted here
        return str(folder) if (folder / "tokenizer.json").is_file() else None
    provider, name = spec.model.split("/", 1)
    if provider not in ("hf", "vllm"):
        return None
    for key in ("tokenizer_path", "model_path"):
        path = spec.model_args.get(key)
        if path and Path(str(path)).is_dir():
            return str(path)
    return name  # a hub id: used only when it is in the local cache


@cache
def _tokenizer_counter(source: str) -> TokenCounter | None:
    try:
        from transformers import AutoTokenizer

        from core.quiet import quiet_transformers

        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, ImportError):
        return None
    return TokenCounter(
        f"tokenizer of {source}", lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    )


def token_counter(spec: ModelSpec) -> TokenCounter:
    """The role model's tokenizer if it is on disk already, else ~4 characters per token.

    A tokenizer is never downloaded, and the packaged SmolLM2 is never converted for it.
    """
    source = _local_tokenizer_source(spec)
    counter = _tokenizer_counter(source) if source is not None else None
    return counter or CHARACTER_ESTIMATE


@dataclass(frozen=True)
class PlanRow:
    """One group of jobs: one stage's model calls of one role, or its adapter trainings.

    `calls` is None when the system declares no call plan (unknown). Token counts and
    dollars are for `calls`; `retry_calls` is the upper bound of extra calls (LLM judge
    retries), and `retry_usd` their cost. `usd` is None when the model has no price.
    """

    stage: str
    job: str
    role: str | None = None
    model: str | None = None
    calls: int | None = 0
    retry_calls: int = 0
    training_jobs: int = 0
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    usd: float | None = 0.0
    retry_usd: float | None = 0.0
    note: str = ""


@dataclass(frozen=True)
class RunPlan:
    """What a run of a profile needs, row by row, and its totals."""

    profile: str
    users: int
    train_records: int
    test_records: int
    rows: list[PlanRow]
    token_methods: dict[str, str]
    prices_as_of: str

    def _known(self) -> list[PlanRow]:
        return [row for row in self.rows if row.calls is not None]

    @property
    def unknown(self) -> list[str]:
        """Jobs whose calls are unknown (systems without a declared call plan)."""
        return [f"{row.stage}: {row.job}" for row in self.rows if row.calls is None]

    @property
    def calls(self) -> int:
        """Model calls of the known rows, retries not included."""
        return sum(row.calls or 0 for row in self._known())

    @property
    def retry_calls(self) -> int:
        """Upper bound of extra calls (LLM judge retries)."""
        return sum(row.retry_calls for row in self.rows)

    @property
    def training_jobs(self) -> int:
        """Adapters to train."""
        return sum(row.training_jobs for row in self.rows)

    @property
    def input_tokens(self) -> int:
        """Estimated input tokens of the known calls."""
        return sum(row.input_tokens or 0 for row in self._known())

    @property
    def output_tokens(self) -> int:
        """Upper bound of output tokens of the known calls."""
        return sum(row.output_tokens or 0 for row in self._known())

    @property
    def unpriced_models(self) -> list[str]:
        """Models called in the plan that have no price."""
        return sorted({str(row.model) for row in self._known() if row.calls and row.usd is None})

    @property
    def usd(self) -> float | None:
        """Estimated dollars of every call (no retries); None if any is unknown or unpriced."""
        if self.unknown or self.unpriced_models:
            return None
        return sum(row.usd or 0.0 for row in self._known())

    @property
    def retry_usd(self) -> float | None:
        """Upper bound of the retries' dollars; None if a retried model is unpriced."""
        costs = [row.retry_usd for row in self.rows if row.retry_calls]
        return None if any(cost is None for cost in costs) else sum(costs)  # type: ignore[arg-type]

    def calls_of(self, stage: str) -> int:
        """Model calls of one stage (`intents`, `build`, `generation`, `judge`), no retries."""
        return sum(row.calls or 0 for row in self._known() if row.stage == stage)


@dataclass(frozen=True)
class _PlanInputs:
    profile: Profile
    train: list[Record]
    test: list[Record]
    train_by_user: dict[str, list[Record]]
    counters: dict[str, TokenCounter]

    @property
    def settings(self) -> GenerationSettings:
        return self.profile.generation


def _budget(settings: GenerationSettings, name: str) -> int:
    value = getattr(settings, name, None)
    if not isinstance(value, int):
        raise ValueError(f"'{name}' is not a generation token setting of the profile")
    return value


def _count_messages(counter: TokenCounter, contents: Iterable[str]) -> int:
    return sum(counter.count(content) for content in contents)


def _metadata(record: Record) -> dict:
    """The sample metadata the solvers render; an empty intent when it is not extracted yet."""
    with_intent = record if record.intent else record.model_copy(update={"intent": "-"})
    sample = record_to_sample(with_intent)
    metadata = dict(sample.metadata or {})
    metadata["intent"] = record.intent or ""
    return metadata


def _call_input_tokens(inputs: _PlanInputs, call: ModelCall, record: Record) -> int:
    """Tokens of one call's prompt for one record, unwritten text at its budget."""
    settings = inputs.settings
    fields: dict[str, str] = {}
    unwritten = 0 if record.intent else settings.intent_max_tokens
    for name, source in call.fills.items():
        if source == GROUND_TRUTH:
            fields[name] = record.content
        elif source == TRAIN_EXAMPLES:
            train = inputs.train_by_user.get(record.user, [])
            chosen = choose_examples(train, record.id, settings.few_shot_k, inputs.profile.seed)
            fields[name] = render_examples(chosen)
        else:
            fields[name] = ""
            unwritten += _budget(settings, source)
    messages = render_prompt(call.template, _metadata(record), call.prompts_dir, **fields)
    counter = inputs.counters[call.role]
    return _count_messages(counter, (message["content"] for message in messages)) + unwritten


def _call_note(inputs: _PlanInputs, call: ModelCall) -> str:
    parts = []
    for name, source in call.fills.items():
        if source == TRAIN_EXAMPLES:
            parts.append(f"{name}: {inputs.settings.few_shot_k} train texts")
        elif source != GROUND_TRUTH:
            parts.append(f"{name} at {source}={_budget(inputs.settings, source)}")
    return "; ".join(parts)


def _model_row(
    inputs: _PlanInputs,
    stage: str,
    job: str,
    role: str,
    calls: int,
    input_tokens: int,
    max_tokens: int,
    retry_calls: int = 0,
    adapter: bool = False,
    note: str = "",
) -> PlanRow:
    spec = inputs.profile.roles[role]
    price = price_of(spec.model, inputs.profile)
    output_tokens = calls * max_tokens
    retry_input = input_tokens * retry_calls // calls if calls else 0
    return PlanRow(
        stage=stage,
        job=job,
        role=role,
        model=f"{spec.model} + adapter" if adapter else spec.model,
        calls=calls,
        retry_calls=retry_calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        usd=usd(price, input_tokens, output_tokens),
        retry_usd=usd(price, retry_input, retry_calls * max_tokens),
        note=note,
    )


def _system_call_rows(
    inputs: _PlanInputs,
    stage: str,
    job: str,
    calls: tuple[ModelCall, ...],
    records: list[Record],
    repeat: int = 1,
    note: str = "",
) -> list[PlanRow]:
    """One row per declared call over `records` (each `repeat` times)."""
    rows = []
    for call in calls:
        try:
            tokens = sum(_call_input_tokens(inputs, call, record) for record in records)
        except KeyError as error:
            raise ValueError(
                f"{job}: call {call.label!r}: {error.args[0]}; declare it in the call's `fills`"
            ) from error
        notes = "; ".join(part for part in (note, _call_note(inputs, call)) if part)
        rows.append(
            _model_row(
                inputs,
                stage,
                f"{job}: {call.label}",
                call.role,
                calls=len(records) * repeat,
                input_tokens=tokens * repeat,
                max_tokens=_budget(inputs.settings, call.max_tokens),
                adapter=call.adapter,
                note=notes,
            )
        )
    return rows


def _unknown_row(stage: str, job: str) -> PlanRow:
    return PlanRow(
        stage=stage,
        job=job,
        calls=None,
        input_tokens=None,
        output_tokens=None,
        usd=None,
        note="unknown: the system declares no call plan",
    )


def _intent_rows(inputs: _PlanInputs, records: list[Record]) -> list[PlanRow]:
    missing = [record for record in records if not record.intent]
    if not missing:
        return [PlanRow("intents", "intents", note="every record has an intent: no call")]
    template = load_template(INTENT_PROMPTS, INTENT_TEMPLATE)
    counter = inputs.counters["large"]
    tokens = sum(
        _count_messages(counter, template.render(content=record.content)) for record in missing
    )
    variants = len(TEMPERATURES)
    return [
        _model_row(
            inputs,
            "intents",
            f"intents ({variants} temperatures)",
            "large",
            calls=variants * len(missing),
            input_tokens=variants * tokens,
            max_tokens=inputs.settings.intent_max_tokens,
            note=f"{len(missing)} records without an intent",
        )
    ]


def _build_rows(inputs: _PlanInputs, system: GenerationSystem) -> list[PlanRow]:
    if system.build is None:
        return []
    if system.build_calls_per_train_record is None:
        return [_unknown_row("build", system.name)]
    rows = _system_call_rows(
        inputs, "build", system.name, system.build_calls_per_train_record, inputs.train
    )
    if system.trains_adapter:
        training = inputs.profile.training
        spec = inputs.profile.roles["small"]
        rows.append(
            PlanRow(
                stage="build",
                job=f"{system.name}: adapters",
                role="small",
                model=spec.model,
                training_jobs=len(inputs.train_by_user),
                usd=None,
                note=(
                    f"LoRA r={training.rank}, {training.max_steps} steps × batch "
                    f"{training.batch_size}, quantization {training.quantization}; not priced"
                ),
            )
        )
    return rows


def _candidate_budget(inputs: _PlanInputs, name: str) -> int:
    """A system's output bound: its last call's budget (the writer), else `max_tokens`."""
    calls = lookup_system(name).calls
    return _budget(inputs.settings, calls[-1].max_tokens if calls else "max_tokens")


def _judge_input_tokens(inputs: _PlanInputs, systems: list[str]) -> int:
    """Tokens of one judge prompt per test record, candidates at their budgets."""
    counter = inputs.counters["judge"]
    candidates = sum(_candidate_budget(inputs, name) for name in systems)
    total = 0
    for record in inputs.test:
        template = judge_template_for(corpus_text_kind(record.dataset))
        messages = judge_messages(template, record.content, [""] * len(systems))
        total += _count_messages(counter, (message.text for message in messages)) + candidates
    return total


def _judge_rows(inputs: _PlanInputs) -> list[PlanRow]:
    profile = inputs.profile
    reference = profile.reference_system
    pairs = len(inputs.test)
    rows = []
    for other in profile.systems:
        if other == reference:
            continue
        job = f"{reference} vs {other}"
        if profile.judge.kind != "llm":
            rows.append(
                PlanRow("judge", job, note=f"{profile.judge.kind} judge (local): no model call")
            )
            continue
        orders = 2 * pairs
        rows.append(
            _model_row(
                inputs,
                "judge",
                job,
                "judge",
                calls=orders,
                input_tokens=2 * _judge_input_tokens(inputs, [reference, other]),
                max_tokens=profile.judge.max_tokens,
                retry_calls=(JUDGE_ATTEMPTS - 1) * orders,
                note=f"2 orders × {pairs} test texts; a retry per unparseable answer",
            )
        )
    if profile.judge.multi_candidate:
        systems = list(profile.systems)
        job = f"multi-candidate ({len(systems)} systems)"
        if profile.judge.kind != "llm":
            rows.append(
                PlanRow("judge", job, note=f"{profile.judge.kind} judge (local): no model call")
            )
        else:
            rotations = len(systems) * pairs
            rows.append(
                _model_row(
                    inputs,
                    "judge",
                    job,
                    "judge",
                    calls=rotations,
                    input_tokens=len(systems) * _judge_input_tokens(inputs, systems),
                    max_tokens=profile.judge.max_tokens,
                    retry_calls=(JUDGE_ATTEMPTS - 1) * rotations,
                    note=f"{len(systems)} rotations × {pairs} test texts",
                )
            )
    return rows


def _cross_user_rows(inputs: _PlanInputs) -> list[PlanRow]:
    name = inputs.profile.metrics.personalization_system
    if name is None:
        return []
    system = lookup_system(name)
    job = f"{name} cross-user"
    if system.calls is None:
        return [_unknown_row("generation", job)]
    agents = len({record.user for record in inputs.test})
    note = f"{agents} agents × every test text; the diagonal comes from the generation cache"
    return _system_call_rows(
        inputs, "generation", job, system.calls, inputs.test, repeat=agents - 1, note=note
    )


def plan_run(profile: Profile, records: list[Record], limit: int | None = None) -> RunPlan:
    """The jobs a fresh run of `profile` on `records` needs (see the module docstring).

    `limit` is `prefbench run --limit`: at most that many test records per system.
    Raises `ValueError` when a system's declared template needs a field its call does not
    fill, and `PrefbenchInputError` for an unknown system.
    """
    train = [record for record in records if record.split == "train"]
    test = [record for record in records if record.split == "test"][:limit]
    counters = {role: token_counter(spec) for role, spec in profile.roles.items()}
    inputs = _PlanInputs(profile, train, test, records_by_user(train), counters)
    systems = [lookup_system(name) for name in profile.systems]
    rows = _intent_rows(inputs, records)
    for system in systems:
        rows += _build_rows(inputs, system)
    for system in systems:
        if system.calls is None:
            rows.append(_unknown_row("generation", system.name))
        else:
            rows += _system_call_rows(inputs, "generation", system.name, system.calls, test)
    rows += _cross_user_rows(inputs)
    rows += _judge_rows(inputs)
    return RunPlan(
        profile=profile.name,
        users=len({record.user for record in records}),
        train_records=len(train),
        test_records=len(test),
        rows=rows,
        token_methods={role: counter.method for role, counter in counters.items()},
        prices_as_of=price_list().as_of,
    )


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _dollars(value: float | None) -> str:
    return "no price" if value is None else f"${value:,.2f}"


def plan_table(plan: RunPlan) -> Table:
    """The plan as a rich table, one row per job group."""
    roles_by_method: dict[str, list[str]] = {}
    for role, method in plan.token_methods.items():
        roles_by_method.setdefault(method, []).append(role)
    methods = "; ".join(
        f"{', '.join(roles)}: {method}" for method, roles in roles_by_method.items()
    )
    # notes are numbered under the table, so the numbers keep their columns on any terminal
    notes = list(dict.fromkeys(row.note for row in plan.rows if row.note))
    table = Table(
        title=(
            f"dry run of profile {plan.profile}: {plan.users} users, {plan.train_records} train "
            f"and {plan.test_records} test records (nothing was run)"
        ),
        box=box.SIMPLE_HEAD,
        caption="\n".join(
            [f"[{number}] {note}" for number, note in enumerate(notes, start=1)]
            + [
                f"input tokens: the real prompts ({methods}); text not written yet (intents, "
                "drafts, rules, candidates) at its max_tokens budget. output: max_tokens per "
                f"call (an upper bound). USD at list prices as of {plan.prices_as_of} "
                "(harness/prices.yaml, the profile's prices); local models cost 0."
            ]
        ),
        caption_justify="left",
    )
    # numbers never wrap; on a narrow terminal the labels and the note wrap instead
    table.add_column("stage", no_wrap=True)
    table.add_column("job")
    table.add_column("model")
    for header in ("calls", "retries ≤", "adapters", "input tok", "output tok ≤", "USD"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in plan.rows:
        if row.calls is None:
            calls = tokens_in = tokens_out = dollars = "unknown"
        elif row.training_jobs and not row.calls:
            calls = tokens_in = tokens_out = dollars = "–"
        else:
            calls, dollars = _number(row.calls), _dollars(row.usd)
            tokens_in, tokens_out = _number(row.input_tokens), _number(row.output_tokens)
        marker = f" [{notes.index(row.note) + 1}]" if row.note else ""
        table.add_row(
            row.stage,
            row.job + marker,
            row.model or "–",
            calls,
            _number(row.retry_calls) if row.retry_calls else "",
            _number(row.training_jobs) if row.training_jobs else "",
            tokens_in,
            tokens_out,
            dollars,
        )
    return table


def totals_line(plan: RunPlan) -> str:
    """One line: calls, retries, trainings, tokens and dollars of the whole plan."""
    retries = f" (+ up to {plan.retry_calls:,} judge retries)" if plan.retry_calls else ""
    line = (
        f"total: {plan.calls:,} model calls{retries}, {plan.training_jobs:,} adapters to "
        f"train; ~{plan.input_tokens:,} input tokens, ≤ {plan.output_tokens:,} output tokens; "
    )
    if plan.unknown:
        return line + f"cost unknown: no call plan for {', '.join(plan.unknown)}"
    if plan.unpriced_models:
        return line + f"cost unknown: no price for {', '.join(plan.unpriced_models)}"
    retry_usd = plan.retry_usd
    extra = (
        f" (+ up to {_dollars(retry_usd)} if every judge answer is retried)" if retry_usd else ""
    )
    return line + f"≈ {_dollars(plan.usd)}{extra}"
