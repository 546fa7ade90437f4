"""Check every input of a run before anything runs or is planned, and report all problems.

`check_inputs` reads what a run of a profile needs and returns a `Preflight`: the problems that
would stop the run (all of them, not the first), notes that would not, and the records of each
dataset (read once here, so planning does not read them again). It checks:

- the records of every dataset: a records file that exists and reads, with test records, and
  train records for every test user when a system trains per-user adapters; the demo corpus
  is generated;
- the systems' options (`system_options`), the personalization system (it must train
  adapters), a negative control's two test users;
- the roles: a small model that adapter systems can train (`require_trainable_small`), an
  explicit `weights` folder, the packaged offline model's package, the encoder folder, and every
  API key a role names by `api_key_env` set in the environment (only named, never printed);
- the devices: every GPU index a role names is one this machine shows (`visible_gpus`); on a
  machine that shows no GPU at all (a login node planning a run) they get a note instead;
- plug-ins: systems and the judge are looked up when the profile is read; records whose
  `dataset` no installed corpus registers get a note (their prompts are the email ones).

`PreflightFailed` (an input error, exit 2) lists every problem with its fix.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.profile import Profile, dataset_profiles
from prefbench.harness.serving.weights import local_weights, require_trainable_small
from prefbench.harness.stages.generation import system_options
from prefbench.harness.stages.records import limited_records
from prefbench.solvers import lookup_system
from prefbench.tasks.long_texts import TextLengthOutcome
from prefbench.tasks.records import Record

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
"""One folder per GPU the NVIDIA driver sees (Linux)."""


class PreflightFailed(PrefbenchInputError):
    """Inputs of a run are missing or wrong: nothing was run or planned."""


@dataclass
class Preflight:
    """What the checks found: problems (the run would stop), notes, and each dataset's records."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: dict[str, list[Record]] = field(default_factory=dict)
    """Records by dataset name ("" for a profile with one dataset)."""
    lengths: dict[str, TextLengthOutcome | None] = field(default_factory=dict)
    """What the profile's `long_texts` policy did to each dataset's records (None: no policy)."""

    def require_ok(self, what: str) -> None:
        """Raise `PreflightFailed` listing every problem, if there is any."""
        if self.problems:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            raise PreflightFailed(
                f"{what}: {len(self.problems)} problem(s), nothing was run:\n{listed}"
            )


def visible_gpus() -> int | None:
    """How many GPUs this process may use; None when nothing says (no NVIDIA driver).

    `CUDA_VISIBLE_DEVICES`'s count when it is set, else the GPUs the NVIDIA driver lists.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip()])
    if NVIDIA_GPUS.is_dir():
        return sum(1 for entry in NVIDIA_GPUS.iterdir() if entry.is_dir())
    return None


def _check_devices(profile: Profile, found: Preflight) -> None:
    owned = {role: spec.devices for role, spec in profile.roles.items() if spec.devices}
    if not owned:
        return
    gpus = visible_gpus()
    wanted = sorted({device for devices in owned.values() for device in devices})
    if not gpus:
        found.notes.append(
            f"the roles {sorted(owned)} own GPUs {wanted} (`devices`), but this machine shows "
            "no GPU (no NVIDIA driver, or CUDA_VISIBLE_DEVICES is empty): they are checked "
            "where the run has GPUs"
        )
        return
    for role, devices in owned.items():
        missing = [device for device in devices if device >= gpus]
        if missing:
            found.problems.append(
                f"roles.{role}.devices names GPU(s) {missing}, but this machine shows {gpus} "
                f"(0-{gpus - 1}); change roles.{role}.devices"
            )


def _check_roles(profile: Profile, source: str, found: Preflight) -> None:
    try:
        require_trainable_small(profile, source)
    except PrefbenchInputError as error:
        found.problems.append(str(error))
    for role, spec in profile.roles.items():
        if spec.weights is not None:
            try:
                local_weights(spec)
            except PrefbenchInputError as error:
                found.problems.append(f"roles.{role}: {error}")
        if spec.model.startswith("offline/smollm2"):
            from prefbench.core.offline_models import smollm2_gguf_path

            try:
                smollm2_gguf_path()
            except PrefbenchInputError as error:
                found.problems.append(f"roles.{role}: {error}")
        variable = spec.api_key_env
        if variable is not None and not os.environ.get(variable):
            found.problems.append(
                f"roles.{role} reads its API key from ${variable} (api_key_env), which is not "
                f"set in the environment: export {variable}=... (or change roles.{role}"
                ".api_key_env)"
            )
    encoder = profile.metrics.encoder
    if encoder is not None and not Path(encoder).is_dir():
        found.problems.append(
            f"metrics.encoder {encoder} is not a folder: point it at a local encoder model "
            "folder, or remove it (the packaged MiniLM)"
        )


def _check_systems(profile: Profile, records: list[Record], where: str, found: Preflight) -> None:
    adapters = [name for name in profile.systems if lookup_system(name).uses_adapter]
    for name in profile.systems:
        try:
            system_options(profile, name)
        except PrefbenchInputError as error:
            found.problems.append(str(error))
    personal = profile.metrics.personalization_system
    if personal is not None and not lookup_system(personal).uses_adapter:
        found.problems.append(
            f"metrics.personalization_system '{personal}' has no per-user adapters, so its "
            "agents cannot be crossed with other users' test sets: choose an adapter system "
            "such as preference_agent, or set it to null"
        )
    test_users = {record.user for record in records if record.split == "test"}
    train_users = {record.user for record in records if record.split == "train"}
    if not test_users:
        found.problems.append(f"{where} has no test records: nothing to generate or judge")
    if "negative_control" in profile.systems and len(test_users) < 2:
        found.problems.append(
            f"negative_control needs test records of at least two users; {where} has "
            f"{len(test_users)}: remove it from `systems` or add users"
        )
    untrained = sorted(test_users - train_users)
    if adapters and untrained:
        found.problems.append(
            f"{where}: users {untrained[:5]} have test records but no train records, so "
            f"{adapters} have no adapter for them; give every user train records"
        )


def _check_corpora(records: list[Record], where: str, found: Preflight) -> None:
    from prefbench.tasks.corpora.registry import corpora, corpus_names

    datasets = {record.dataset for record in records}
    loaded = {corpus.name for corpus in corpora(plugins=False)}
    # plug-ins are imported only when a dataset is not one of the corpora imported so far
    unknown = sorted(datasets - (loaded if datasets <= loaded else set(corpus_names())))
    if unknown:
        found.notes.append(
            f"{where}: records of dataset(s) {unknown} name no installed corpus; their "
            "prompts are the email ones (install the corpus's package to change that)"
        )


def check_inputs(profile: Profile, source: str) -> Preflight:
    """Every problem a run of `profile` would stop on, before it runs (module docstring).

    `source` names the profile in messages.
    """
    found = Preflight()
    _check_roles(profile, source, found)
    _check_devices(profile, found)
    for name, dataset_profile in dataset_profiles(profile).items():
        where = f"dataset {name}" if name else "the dataset"
        try:
            records, found.lengths[name] = limited_records(dataset_profile)
        except PrefbenchInputError as error:
            found.problems.append(f"{where}: {error}")
            continue
        found.records[name] = records
        _check_systems(dataset_profile, records, where, found)
        _check_corpora(records, where, found)
    return found
