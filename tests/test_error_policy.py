"""The error policy (profile `errors`) against the recording test server over loopback HTTP.

Calls: a 429, a 500 and a timed-out attempt are retried and then answered; a provider's
retries are bounded exactly (the server counts every request); a malformed body is retried as
a sample. Runs: a permanent 400 on one sample is listed in report.json and the run completes
within the policy; a re-run asks only that sample again; failures over the policy stop the run
with exit code 1 and a message naming the setting, and the run folder resumes.
"""

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from inspect_ai.model import Model

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.error_policy import apply_call_policy
from prefbench.harness.pipeline import run_benchmark
from prefbench.harness.profile import parse_profile
from prefbench.harness.serving.models import ModelPool
from prefbench.harness.stage_runner import StageInterrupted
from tests.helpers import run_cli, scripted_run
from tests.openai_test_server import MALFORMED, SLOW, Fault, OpenAITestServer, RecordedRequest
from tests.server_profiles import KEY_VARIABLE, endpoint_profile

FAST_BACKOFF = {"backoff_initial": 0.05, "backoff_max": 0.2}
BO_ZERO_SHOT = "Write the email that bo@tanaka-studio.example sends. It must"
"""The writer prompt of user bo's test record in the zero-shot systems (one per system)."""
ZERO_SHOT = "sends. It must convey"
"""Every zero-shot writer prompt (both users' test records)."""


@pytest.fixture(autouse=True)
def server_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "test-key")


def policy_profile(base_url: str, **errors: object) -> dict:
    """The endpoint profile with a fast backoff and `errors` settings."""
    profile = endpoint_profile(base_url)
    profile["errors"] = {"default": {**FAST_BACKOFF, "max_retries": 3}, **errors}
    return profile


def role_model(server: OpenAITestServer, role: str = "large", **errors: object) -> Model:
    """The role's model as a run makes it, with the profile's call policy applied."""
    profile = parse_profile(policy_profile(server.base_url, **errors), Path("<test>"))
    model = ModelPool(profile).role_models((role,))[role]
    apply_call_policy([model], profile.errors)
    return model


def ask(model: Model) -> str:
    return asyncio.run(model.generate("Write the weekly update.")).completion


@pytest.mark.parametrize("status", [429, 500])
def test_a_failed_status_is_retried_then_answered(status: int) -> None:
    with OpenAITestServer(faults=[Fault(sequence=[status])]) as server:
        answer = ask(role_model(server))
    assert "Written by large-model" in answer
    assert len(server.arrivals) == 2, "one failed attempt, one retry (no SDK retries)"


def test_an_attempt_over_attempt_timeout_is_abandoned_and_retried() -> None:
    fault = Fault(sequence=[SLOW], slow_seconds=5.0)
    with OpenAITestServer(faults=[fault]) as server:
        model = role_model(server, providers={"openai-api": {"attempt_timeout": 1}})
        answer = ask(model)
    assert "Written by large-model" in answer
    assert len(server.arrivals) == 2


@pytest.mark.parametrize(("role", "provider"), [("large", "openai-api"), ("judge", "openai")])
def test_retries_are_bounded_exactly(role: str, provider: str) -> None:
    with OpenAITestServer(faults=[Fault(then=500)]) as server:
        model = role_model(server, role, providers={provider: {"max_retries": 2}})
        with pytest.raises(Exception, match="InternalServerError"):
            ask(model)
    assert len(server.arrivals) == 3, "max_retries: 2 is three attempts in all"


def test_a_permanent_client_error_is_not_retried() -> None:
    with OpenAITestServer(faults=[Fault(then=400)]) as server:
        with pytest.raises(Exception, match="400"):
            ask(role_model(server))
    assert len(server.arrivals) == 1


def test_the_role_config_wins_over_the_provider_policy() -> None:
    profile = policy_profile("http://127.0.0.1:9/v1", providers={"openai-api": {"timeout": 900}})
    profile["roles"]["large"]["config"] = {"max_retries": 1}
    parsed = parse_profile(profile, Path("<test>"))
    model = ModelPool(parsed).role_models(("large",))["large"]
    apply_call_policy([model], parsed.errors)
    apply_call_policy([model], parsed.errors)
    assert (model.config.max_retries, model.config.timeout) == (1, 900)
    assert model.config.attempt_timeout == 600


@pytest.mark.parametrize(
    ("errors", "named"),
    [
        ({"fail_on_error": 0}, "errors.fail_on_error"),
        ({"fail_on_error": 1.5}, "errors.fail_on_error"),
        ({"retry_on_error": 11}, "errors.retry_on_error"),
        ({"default": {"max_retries": None}}, "errors.default.max_retries"),
        ({"default": {"attempt_timeout": 2000}}, "lower attempt_timeout or raise timeout"),
        ({"providers": {"openai": {"max_retries": 99}}}, "providers.openai: max_retries"),
        ({"providers": {"openai": {"retries": 3}}}, "providers.openai: retries"),
        (
            {"providers": {"vllm": {"timeout": 60}}},
            "errors.providers.vllm: vllm: Value error, attempt_timeout",
        ),
        ({"providers": {"hf": {"max_retries": 3}}}, "remove errors.providers.hf"),
    ],
)
def test_an_unbounded_or_unknown_setting_names_the_field(errors: dict, named: str) -> None:
    profile = endpoint_profile("http://127.0.0.1:9/v1")
    profile["errors"] = errors
    with pytest.raises(PrefbenchInputError, match=named.replace(".", r"\.")):
        parse_profile(profile, Path("<test>"))


def request_key(request: RecordedRequest) -> str:
    return json.dumps([request.model, request.messages])


def test_a_malformed_body_is_retried_as_a_sample(tmp_path: Path) -> None:
    fault = Fault(match=BO_ZERO_SHOT, model="large-model", sequence=[MALFORMED])
    with OpenAITestServer(faults=[fault]) as server:
        report = run_benchmark(scripted_run(tmp_path / "run", policy_profile(server.base_url)))
    assert fault.seen == 2, "the malformed answer, then the sample's retry"
    assert "failed_samples" not in report


def test_a_permanent_400_on_one_sample_is_listed_and_only_it_is_asked_again(
    tmp_path: Path,
) -> None:
    fault = Fault(match=BO_ZERO_SHOT, model="small-model", then=400)
    with OpenAITestServer(faults=[fault]) as server:
        profile = policy_profile(server.base_url, fail_on_error=2, retry_on_error=1)
        report = run_benchmark(scripted_run(tmp_path / "run", profile))
        first = list(server.arrivals)
    assert fault.seen == 2, "one request and one sample retry; a 400 is not retried"
    failed = report.failed_samples
    assert failed is not None
    [sample] = failed.samples
    assert sample.stage == "gen-small_zero_shot"
    assert sample.system == "small_zero_shot"
    assert sample.user and sample.sample_id
    assert sample.error == "BadRequestError('Error code: 400 - scripted 400')"
    assert failed.by_stage == {"gen-small_zero_shot": 1}
    by_comparison = {row.comparison: row for row in failed.by_comparison}
    assert by_comparison["few_shot-vs-small_zero_shot"].skipped_failed_generation == 1
    assert by_comparison["few_shot-vs-large_zero_shot"].skipped_failed_generation == 0
    rows = {row.system_b: row for row in report.rows()}
    assert rows["small_zero_shot"].n < rows["large_zero_shot"].n
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "Failed samples" in markdown and sample.sample_id in markdown
    assert "Failed samples" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")

    # the same folder again, the sample still failing: only it is asked, twice
    with OpenAITestServer(
        faults=[Fault(match=BO_ZERO_SHOT, model="small-model", then=400)]
    ) as again:
        profile = policy_profile(again.base_url, fail_on_error=2, retry_on_error=1)
        rerun = run_benchmark(scripted_run(tmp_path / "run", profile))
    assert len(again.arrivals) == 2
    assert all(BO_ZERO_SHOT in r.prompt and r.model == "small-model" for r in again.arrivals)
    assert rerun.failed_samples is not None
    assert rerun.failed_samples.samples[0].sample_id == sample.sample_id

    # the server healed: the sample is answered and judged; nothing that succeeded is repeated
    with OpenAITestServer() as healed:
        profile = policy_profile(healed.base_url, fail_on_error=2, retry_on_error=1)
        healed_report = run_benchmark(scripted_run(tmp_path / "run", profile))
    succeeded = {
        request_key(r) for r in first if not (BO_ZERO_SHOT in r.prompt and r.model == "small-model")
    }
    assert not succeeded & {request_key(r) for r in healed.requests}
    assert any(BO_ZERO_SHOT in r.prompt for r in healed.requests)
    assert healed_report.failed_samples is None
    rows = {row.system_b: row for row in healed_report.rows()}
    assert rows["small_zero_shot"].n == rows["large_zero_shot"].n


def test_failures_over_the_policy_stop_the_run_and_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    fault = Fault(match=ZERO_SHOT, model="small-model", then=400)
    with OpenAITestServer(faults=[fault]) as server:
        path = tmp_path / "profile.yaml"
        path.write_text(yaml.safe_dump(policy_profile(server.base_url, fail_on_error=2)))
        out = str(tmp_path / "run")
        code, output = run_cli(
            monkeypatch, capsys, "run", "--profile", str(path), "--out", out, "--display", "none"
        )
        first = list(server.requests)
    assert code == 1, output
    assert "stage gen-small_zero_shot stopped: 2 sample(s) failed" in output
    assert "errors.fail_on_error" in output and "run the same command again" in output
    assert fault.seen == 4, "two samples, each asked once and retried once"

    with OpenAITestServer() as healed:
        profile = policy_profile(healed.base_url, fail_on_error=2)
        report = run_benchmark(scripted_run(tmp_path / "run", profile))
    assert report.rows() and report.failed_samples is None
    assert not {request_key(r) for r in first} & {request_key(r) for r in healed.requests}


def test_the_stage_runner_raises_stage_interrupted_over_the_policy(tmp_path: Path) -> None:
    with OpenAITestServer(faults=[Fault(match=ZERO_SHOT, model="small-model", then=400)]) as s:
        context = scripted_run(tmp_path / "run", policy_profile(s.base_url, retry_on_error=0))
        with pytest.raises(StageInterrupted, match="fail_on_error: true"):
            run_benchmark(context)


def test_a_failed_judge_sample_is_counted_per_comparison(tmp_path: Path) -> None:
    fault = Fault(match="orchard chat to friday", model="gpt-4o", then=400)
    with OpenAITestServer(faults=[fault]) as server:
        profile = policy_profile(server.base_url, fail_on_error=2)
        report = run_benchmark(scripted_run(tmp_path / "run", profile))
    failed = report.failed_samples
    assert failed is not None
    assert {entry.system for entry in failed.samples} == {
        "few_shot-vs-small_zero_shot",
        "few_shot-vs-large_zero_shot",
    }
    assert all(entry.user == "bo" for entry in failed.samples)
    for row in failed.by_comparison:
        assert (row.judge_failed, row.skipped_failed_generation) == (1, 0)
    assert all(row.n == 1 for row in report.rows()), report.comparisons
