"""The profile's judges, each resolved once: its registered definition and typed settings.

A stage, the report and the provenance take `ResolvedJudge`s (`resolve_judges(profile)`)
instead of looking a judge up and typing its settings again at every use. The first judge
is the primary one: its stage names are the ones a single-judge run always had
(`judge-A-vs-B`), so a run folder judged before several judges existed is reused as it is;
every other judge's stages carry its name (`judge-A-vs-B@NAME`).
"""

from dataclasses import dataclass
from typing import Any

from prefbench.core.fingerprint import fingerprint
from prefbench.harness.profile import JudgeSettings, Profile
from prefbench.scorers.registry import (
    JudgeDefinition,
    JudgeForm,
    JudgeSettingsModel,
    judge_key_inputs,
    lookup_judge,
)

__all__ = ["ResolvedJudge", "resolve_judges"]


@dataclass(frozen=True)
class ResolvedJudge:
    """One judge of a profile, resolved: what its stages run, key and record.

    Attributes:
        definition: the registered judge.
        settings: its typed settings under the profile (`JudgeSettings.typed_settings`).
        profile_entry: the profile's entry for it (tie policy, multi-candidate, batch).
        primary: whether it is the profile's first judge.
    """

    definition: JudgeDefinition
    settings: JudgeSettingsModel
    profile_entry: JudgeSettings
    primary: bool

    @property
    def name(self) -> str:
        """The judge's registered name."""
        return self.definition.name

    @property
    def tie_policy(self) -> str:
        """How its order-inconsistent pairs count."""
        return self.profile_entry.tie_policy

    @property
    def multi_candidate(self) -> bool:
        """Whether it also judges all systems at once."""
        return self.profile_entry.multi_candidate

    def roles(self) -> tuple[str, ...]:
        """The model roles its scorers call with these settings (none for a local judge)."""
        return self.definition.roles_for(self.settings)

    def settings_json(self) -> dict[str, Any]:
        """Its settings as plain JSON, as the tasks take them."""
        return self.settings.model_dump(mode="json")

    def key(self, form: JudgeForm = "pairwise") -> dict[str, Any]:
        """Its entries of a stage key (`judge_key_inputs`)."""
        return judge_key_inputs(self.name, self.settings, form)

    def stage_name(self, stage: str) -> str:
        """A stage's name for this judge: unchanged for the primary, `STAGE@NAME` otherwise."""
        return stage if self.primary else f"{stage}@{self.name}"

    def spec(self) -> dict[str, Any]:
        """What the judge is (report.json provenance): kind, tie policy, roles, key settings."""
        return {
            "kind": self.profile_entry.kind,
            "tie_policy": self.tie_policy,
            "multi_candidate": self.multi_candidate,
            "roles": list(self.definition.roles),
            "settings": self.key(),
        }

    def spec_hash(self) -> str:
        """A fingerprint of `spec()`: two reports with the same hash used the same judge."""
        return fingerprint(self.spec())


def resolve_judges(profile: Profile) -> list[ResolvedJudge]:
    """The profile's judges, resolved once each, the primary first."""
    return [
        ResolvedJudge(
            definition=lookup_judge(entry.kind),
            settings=entry.typed_settings(profile.metrics),
            profile_entry=entry,
            primary=index == 0,
        )
        for index, entry in enumerate(profile.judges)
    ]
