"""Model prices and the money a run spent, from the token counts inspect logs per model.

Prices come from the profile's `prices:` (by model name) and else from `prices.yaml` next to
this module (list prices, with the date they were taken). Models on local providers (`hf/`,
`vllm/`, `offline/`, ...) cost nothing in money. A model with no price gets no dollar figure
(None), and neither do the totals it is part of: a cost is never silently undercounted.
"""

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from inspect_ai.event import ModelEvent
from inspect_ai.log import EvalLog, read_eval_log_samples

from prefbench.core.fingerprint import fingerprint
from prefbench.core.run_folder import RunFolder
from prefbench.harness.cost.forecast import device_hours, forecast_comparison, read_forecast
from prefbench.harness.profile import ModelPrice, Profile, StrictModel
from prefbench.harness.stage_runner import STAGE_FIELD, read_log_header

PRICES_FILE = Path(__file__).with_name("prices.yaml")
FREE = ModelPrice(input_per_million=0.0, output_per_million=0.0)
PIPELINE_KINDS = ("intents", "build", "gen", "judge")
"""Log folders every run reports (zero when absent), in pipeline order."""


class BatchDiscounts(StrictModel):
    """`prices.yaml`'s `batch_discounts`: the share off list price of batched calls, by provider."""

    as_of: str
    sources: dict[str, str]
    providers: dict[str, float]


class PriceList(StrictModel):
    """`prices.yaml`: USD per million tokens by model, and the providers that cost nothing."""

    as_of: str
    local_providers: list[str]
    batch_discounts: BatchDiscounts
    models: dict[str, ModelPrice]


@cache
def price_list() -> PriceList:
    """The packaged price list (`harness/cost/prices.yaml`)."""
    return PriceList.model_validate(yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8")))


def list_price_of(model: str, profile: Profile | None = None) -> ModelPrice | None:
    """The list price of `model` (an inspect name such as `openai/gpt-4o`), or None if unknown.

    The profile's `prices` entry wins, then `prices.yaml`; models on a local provider are
    free. Dated snapshots are priced only when listed by their own name.
    """
    if profile is not None and model in profile.prices:
        return profile.prices[model]
    prices = price_list()
    if model in prices.models:
        return prices.models[model]
    if model.split("/", 1)[0] in prices.local_providers:
        return FREE
    return None


def batch_discount(model: str, profile: Profile | None = None) -> float:
    """The share off list price of `model`'s batched calls (0 when none is known).

    The model's own `batch_discount` wins, then its provider's in `prices.yaml`.
    """
    price = list_price_of(model, profile)
    if price is not None and price.batch_discount is not None:
        return price.batch_discount
    return price_list().batch_discounts.providers.get(model.split("/", 1)[0], 0.0)


def price_of(model: str, profile: Profile | None = None, batch: bool = False) -> ModelPrice | None:
    """The price of `model`'s calls, or None if unknown (see `list_price_of`).

    `batch`: the calls went through the provider's batch API; they cost the list price less
    the model's `batch_discount`.
    """
    price = list_price_of(model, profile)
    if price is None or not batch:
        return price
    share = 1.0 - batch_discount(model, profile)
    return ModelPrice(
        input_per_million=price.input_per_million * share,
        output_per_million=price.output_per_million * share,
    )


def usd(price: ModelPrice | None, input_tokens: int, output_tokens: int) -> float | None:
    """Dollars for the tokens at `price`; None when there is no price."""
    if price is None:
        return None
    return (
        input_tokens * price.input_per_million + output_tokens * price.output_per_million
    ) / 1_000_000


def log_kinds(run: RunFolder) -> list[str]:
    """Every stage-kind folder under `logs/`: the pipeline's in order, then any other."""
    root = run.root / "logs"
    present = sorted(path.name for path in root.iterdir() if path.is_dir()) if root.exists() else []
    return [*PIPELINE_KINDS, *(kind for kind in present if kind not in PIPELINE_KINDS)]


def finished_logs(
    run: RunFolder, judge_logs: Collection[Path] | None = None
) -> Iterator[tuple[str, Path, EvalLog]]:
    """(stage kind, path, header) of every successful log, kinds in `log_kinds` order.

    Unfinished logs are left out: a resumed stage's earlier calls are answered from the
    cache and its finished log holds only the calls that reached a model. `judge_logs`, when
    given, are the judge logs in use: another finished one in `logs/judge/` (superseded by a
    changed judge or profile) is left out.
    """
    in_use = None if judge_logs is None else {Path(path).resolve() for path in judge_logs}
    for kind in log_kinds(run):
        folder = run.logs(kind)
        for path in sorted(folder.glob("*.eval")) if folder.exists() else []:
            if kind == "judge" and in_use is not None and path.resolve() not in in_use:
                continue
            header = read_log_header(path)
            if header.status == "success":
                yield kind, path, header


def batched_models(header: EvalLog) -> set[str]:
    """The models a log's eval asked to batch (inspect's `batch` generate config)."""
    spec = header.eval
    batched = {spec.model} if spec.model_generate_config.batch else set()
    for configs in (spec.model_roles or {}).values():
        for config in configs if isinstance(configs, list) else [configs]:
            if config.config.batch:
                batched.add(config.model)
    return batched


@dataclass(frozen=True)
class _CacheRead:
    """A call a log answered from inspect's cache: its model, identity and the original's usage."""

    model: str
    identity: str
    input_tokens: int
    output_tokens: int
    total_tokens: int


def _call_identity(event: ModelEvent) -> str:
    """What a call and every later cache read of it share: model, input, config and output."""
    return fingerprint(
        {
            "model": event.model,
            "input": [message.model_dump(mode="json") for message in event.input],
            "config": event.config.model_dump(mode="json"),
            "output": event.output.model_dump(mode="json"),
        }
    )


_scanned: dict[Path, tuple[tuple[int, int, int], tuple[set[str], list[_CacheRead]]]] = {}
"""`_cache_events` per log, kept while the file is unchanged (the cost guard asks per stage)."""


def _cache_events(path: Path) -> tuple[set[str], list[_CacheRead]]:
    """The identities of a log's calls that reached a model, and its reads from the cache.

    Read once per file version in a process (inode, size and modification time).
    """
    status = path.stat()
    state = (status.st_ino, status.st_size, status.st_mtime_ns)
    kept = _scanned.get(path)
    if kept is None or kept[0] != state:
        kept = (state, _scan_cache_events(path))
        _scanned[path] = kept
    return kept[1]


def _scan_cache_events(path: Path) -> tuple[set[str], list[_CacheRead]]:
    answered: set[str] = set()
    reads: list[_CacheRead] = []
    try:
        for sample in read_eval_log_samples(str(path), all_samples_required=False):
            for event in sample.events:
                if not isinstance(event, ModelEvent) or event.error:
                    continue
                if event.cache != "read":
                    answered.add(_call_identity(event))
                    continue
                usage = event.output.usage
                reads.append(
                    _CacheRead(
                        model=event.model,
                        identity=_call_identity(event),
                        input_tokens=usage.input_tokens if usage else 0,
                        output_tokens=usage.output_tokens if usage else 0,
                        total_tokens=usage.total_tokens if usage else 0,
                    )
                )
    except RuntimeError:  # a log written without samples (no sample ids): no calls in it
        return set(), []
    return answered, reads


def usage_by_stage_model(
    run: RunFolder, judge_logs: Collection[Path] | None = None
) -> dict[tuple[str, str, bool], dict[str, int]]:
    """Tokens per (stage kind, model, batched) the finished logs' calls cost, cached ones too.

    The logs' `model_usage` counts only calls that reached a model. A call answered from
    inspect's cache was paid for once, when it was first made; when no finished log holds
    that first call (it was made by a run that was killed, whose log was then replaced),
    its tokens, read from the cached output, are counted here, once, and the row's
    `cached_calls` says how many such calls it holds. `batched`: the log's eval sent that
    model's calls with inspect's `batch` config; `judge_logs`: the judge logs in use
    (`finished_logs`).
    """
    usage: dict[tuple[str, str, bool], dict[str, int]] = {}

    def totals_of(key: tuple[str, str, bool]) -> dict[str, int]:
        return usage.setdefault(
            key, {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "cached_calls": 0}
        )

    answered: set[str] = set()
    reads: list[tuple[tuple[str, str, bool], _CacheRead]] = []
    for kind, path, header in finished_logs(run, judge_logs):
        batched = batched_models(header)
        for model, model_usage in header.stats.model_usage.items():
            totals = totals_of((kind, model, model in batched))
            totals["input_tokens"] += model_usage.input_tokens
            totals["output_tokens"] += model_usage.output_tokens
            totals["total_tokens"] += model_usage.total_tokens
        log_answered, log_reads = _cache_events(path)
        answered |= log_answered
        reads.extend(((kind, read.model, read.model in batched), read) for read in log_reads)
    for key, read in reads:
        if read.identity in answered:
            continue  # its first call is counted in a finished log, or was counted just now
        answered.add(read.identity)
        totals = totals_of(key)
        totals["input_tokens"] += read.input_tokens
        totals["output_tokens"] += read.output_tokens
        totals["total_tokens"] += read.total_tokens
        totals["cached_calls"] += 1
    return usage


def log_stage(header: EvalLog) -> str:
    """The stage name a log was written for (`gen-few_shot`, `rules-r3`, ...)."""
    return str((header.eval.metadata or {}).get(STAGE_FIELD, header.eval.task))


@dataclass(frozen=True)
class LoggedCall:
    """One model call a finished log recorded: who answered, for which sample, and its tokens.

    `stage` is the eval's stage name (`gen-few_shot`, `rules-r3`, ...), `sample` the sample id
    and epoch, `role` the profile role the model was asked for (None for a model derived
    from one, such as a user's adapter), `metadata` the answer's `ModelOutput.metadata`.
    """

    kind: str
    stage: str
    sample: str
    model: str
    role: str | None
    input_tokens: int
    output_tokens: int
    metadata: dict[str, Any]


def logged_calls(run: RunFolder) -> Iterator[LoggedCall]:
    """Every model call of the run's finished logs, in log and event order.

    Answers read from the cache are not calls (no model was asked), and neither are calls
    that failed.
    """
    for kind, path, header in finished_logs(run):
        stage = log_stage(header)
        for sample in read_eval_log_samples(str(path), all_samples_required=False):
            for event in sample.events:
                if not isinstance(event, ModelEvent) or event.cache == "read" or event.error:
                    continue
                usage = event.output.usage
                yield LoggedCall(
                    kind=kind,
                    stage=stage,
                    sample=f"{sample.id}#{sample.epoch}",
                    model=event.model,
                    role=event.role,
                    input_tokens=usage.input_tokens if usage else 0,
                    output_tokens=usage.output_tokens if usage else 0,
                    metadata=dict(event.output.metadata or {}),
                )


def _sum_usd(values: list[float | None]) -> float | None:
    return None if any(value is None for value in values) else sum(values)  # type: ignore[arg-type]


def usd_by_kind(run: RunFolder, profile: Profile) -> dict[str, float | None]:
    """Dollars spent per stage kind (log folder) by the finished logs; None where unpriced."""
    usd_lists: dict[str, list[float | None]] = {kind: [] for kind in log_kinds(run)}
    for (kind, model, batched), totals in usage_by_stage_model(run).items():
        price = price_of(model, profile, batch=batched)
        usd_lists[kind].append(usd(price, totals["input_tokens"], totals["output_tokens"]))
    return {kind: _sum_usd(values) for kind, values in usd_lists.items()}


def cost_section(
    run: RunFolder, profile: Profile, judge_logs: Collection[Path] | None = None
) -> dict[str, Any]:
    """report.json's `cost`: tokens and dollars by stage kind and by (stage, model).

    `judge_logs` are the judge logs the report uses; a superseded one is not counted.

    Calls a resumed stage answered from the cache count with the tokens they cost when
    first made (`usage_by_stage_model`); `cached_calls_by_stage` and each row's
    `cached_calls` say how many. `usd` is None for a model without a price (see
    `price_of`), and so are the stage and run totals it is part of. Batched calls are
    priced at their batch rate (`batch` true in their row); prompt-cache discounts are not
    counted. With a forecast in the run folder
    (`forecast.json`), `forecast_vs_spend` compares it with the spend per stage kind; with
    stage timings, `device_hours` says how long each pipeline stage held how many GPUs.
    """
    usage = usage_by_stage_model(run, judge_logs)
    kinds = log_kinds(run)
    tokens_by_stage = {
        kind: {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0} for kind in kinds
    }
    by_stage_model: list[dict[str, Any]] = []
    usd_lists: dict[str, list[float | None]] = {kind: [] for kind in kinds}
    cached_by_stage = dict.fromkeys(kinds, 0)
    ordered = sorted(usage.items(), key=lambda item: (kinds.index(item[0][0]), item[0][1:]))
    for (kind, model, batched), totals in ordered:
        for name in ("input_tokens", "output_tokens", "total_tokens"):
            tokens_by_stage[kind][name] += totals[name]
        cached_by_stage[kind] += totals["cached_calls"]
        price = price_of(model, profile, batch=batched)
        dollars = usd(price, totals["input_tokens"], totals["output_tokens"])
        usd_lists[kind].append(dollars)
        by_stage_model.append(
            {
                "stage": kind,
                "model": model,
                "batch": batched,
                "input_tokens": totals["input_tokens"],
                "output_tokens": totals["output_tokens"],
                "cached_calls": totals["cached_calls"],
                "usd": dollars,
            }
        )
    usd_by_stage = {kind: _sum_usd(values) for kind, values in usd_lists.items()}
    section: dict[str, Any] = {
        "tokens_by_stage": tokens_by_stage,
        "cached_calls_by_stage": cached_by_stage,
        "by_stage_model": by_stage_model,
        "usd_by_stage": usd_by_stage,
        "usd_total": _sum_usd(list(usd_by_stage.values())),
        "prices_as_of": price_list().as_of,
        "batch_discounts_as_of": price_list().batch_discounts.as_of,
    }
    forecast = read_forecast(run.root)
    if forecast is not None:
        section["forecast_vs_spend"] = forecast_comparison(forecast, usd_by_stage)
    section["device_hours"] = device_hours(run.root, profile)
    return section
