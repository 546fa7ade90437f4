"""The run's error policy (profile `errors`, docs/error_policy.md) and its failed samples.

`apply_call_policy` gives every remote role model its provider's bounded retries, timeouts,
backoff and connections (`prefbench.harness.profile.ProviderPolicy`); a setting the role's own
`config` states wins. inspect's retry loop is then the only one: the provider SDK's own retries (the
OpenAI SDK retries twice by default, which would triple every bound) are turned off on the model's
client. None of these settings is part of inspect's cache key or of a stage key, so changing them
reuses finished calls and stages.

A sample whose calls still fail ends the sample with an error; `fail_on_error` decides how
many a stage tolerates. `failed_samples` reads them back from a log, for the report and for
the stage runner, which evaluates a stage with failed samples again once per run (its
succeeded samples come from the cache).
"""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model
from tenacity import wait_exponential_jitter
from tenacity.wait import WaitBaseT

from prefbench.core.model_close import provider_of
from prefbench.harness.log_reads import sample_summaries
from prefbench.harness.profile import IN_PROCESS_PROVIDERS, ErrorPolicy, ProviderPolicy

ERROR_CHARS = 300
"""The most characters of an error message kept in the report."""


def backoff(policy: ProviderPolicy) -> WaitBaseT:
    """Exponential backoff with jitter: `backoff_initial` doubling up to `backoff_max`."""
    return wait_exponential_jitter(
        initial=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
    )


def apply_call_policy(models: Iterable[Model], policy: ErrorPolicy) -> None:
    """Give each remote model its provider's call policy (idempotent; in-process ones keep theirs).

    Sets the model's `max_retries`, `timeout`, `attempt_timeout` and `max_connections` under
    the config it already has (the role's `config` wins), its backoff, and no SDK retries.
    """
    for model in models:
        provider = provider_of(model)
        if provider in IN_PROCESS_PROVIDERS:
            continue
        settings = policy.for_provider(provider)
        stated = GenerateConfig(
            max_retries=settings.max_retries,
            timeout=settings.timeout,
            attempt_timeout=settings.attempt_timeout,
            max_connections=settings.max_connections,
        )
        model.config = stated.merge(model.config)
        wait = backoff(settings)
        model.api.retry_wait = lambda wait=wait: wait  # type: ignore[method-assign]
        client = getattr(model.api, "client", None)
        if isinstance(getattr(client, "max_retries", None), int):
            client.max_retries = 0  # type: ignore[union-attr]


@dataclass(frozen=True)
class FailedSample:
    """A sample that ended with an error in a stage's log."""

    stage: str
    system: str | None
    user: str | None
    sample_id: str
    epoch: int
    error: str

    def as_json(self) -> dict[str, Any]:
        """The report.json entry."""
        return asdict(self)


def _system_of(metadata: Mapping[str, Any]) -> str | None:
    if metadata.get("system"):
        return str(metadata["system"])
    if metadata.get("system_a") and metadata.get("system_b"):
        return f"{metadata['system_a']}-vs-{metadata['system_b']}"
    return None


def error_text(error: str) -> str:
    """The telling line of a sample's error, at most `ERROR_CHARS` long.

    A failed model call's error is the request followed by the provider's error (its last
    line, e.g. `BadRequestError('Error code: 400 - ...')`), written as a repr.
    """
    unescaped = error.replace("\\n", "\n").replace("\\'", "'")
    lines = [line.strip() for line in unescaped.splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[-1]
    if len(lines) > 1 and text.endswith(("')", '")')):
        text = text[:-2]
    return text[:ERROR_CHARS]


def failed_samples(
    log_path: Path, stage: str, log_metadata: Mapping[str, Any] | None = None
) -> list[FailedSample]:
    """The samples of a log that ended with an error (none when every sample succeeded)."""
    system = _system_of(log_metadata or {})
    failed = []
    for summary in sample_summaries(log_path):
        if summary.error is None:
            continue
        user = (summary.metadata or {}).get("user")
        failed.append(
            FailedSample(
                stage=stage,
                system=system,
                user=None if user is None else str(user),
                sample_id=str(summary.id),
                epoch=summary.epoch,
                error=error_text(summary.error),
            )
        )
    return failed


def failed_sample_ids(log_path: Path) -> list[str]:
    """The ids of a log's failed samples, sorted."""
    return sorted({failed.sample_id for failed in failed_samples(log_path, "")})


def fail_on_error_text(policy: ErrorPolicy) -> str:
    """The profile's `fail_on_error` in words, for messages."""
    value = policy.fail_on_error
    if value is True:
        return "errors.fail_on_error: true, which stops a stage at its first failed sample"
    if value is False:
        return "errors.fail_on_error: false"
    if isinstance(value, float):
        return f"errors.fail_on_error: {value}, which stops a stage once {value:.0%} failed"
    return f"errors.fail_on_error: {value}, which stops a stage once {value} samples failed"
