"""prefbench's public surface for plug-ins: everything a system, judge or corpus needs.

A third-party package imports from this module only (and from inspect_ai's public API);
prefbench's other modules are its internals and may change. docs/plugins.md shows a
complete example of each kind of plug-in; `examples/` holds them as installable packages.
A plug-in is found through its package's entry point:

    [project.entry-points.prefbench]
    my_plugin = "my_package.my_module"

**Systems** (`generation_system`): a solver factory `(run_dir, **options) -> Solver`;
its prompts through `template_for` (a text kind's template) or the package's own templates,
rendered and sent by `generate_from_template` with the system's `generation_cache`; the run's
records through `read_records(RunFolder(run_dir).records)`; a build step gets a
`BuildContext` and trains per-user adapters with `request_user_adapter`, which its solver
then loads with `adapter_model` (for the sample's `adapter_user`).
A control system declares its pair (`Control`).

**Judges** (`judge`): a pairwise scorer factory `(settings, tie_policy) -> Scorer` with
typed settings (`JudgeSettingsModel`); it reads a sample's two candidates with
`state.metadata_as(PairSampleMetadata)`; each pair's score comes from `pair_score` (both
orders' verdicts), a multi-candidate form's from `order_free_score`; the metrics are
`win_rate`, `parse_failures`, `first_choice_shares`, `rotation_parse_failures`.

**Corpora** (`corpus`): a reader `(source, options) -> Iterable[CorpusText | SkippedText]`
and its text kind: `"email"`, `"article"` or its own folder of prompts
(`register_text_kind`).
"""

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.run_folder import RunFolder
from prefbench.core.templates import PromptTemplate, load_template
from prefbench.core.text_kinds import (
    PURPOSES,
    Purpose,
    TextKind,
    kind_template,
    lookup_text_kind,
    register_text_kind,
)
from prefbench.scorers.metrics import parse_failures, win_rate
from prefbench.scorers.multi_judge import (
    first_choice_shares,
    order_free_score,
    rotation_parse_failures,
)
from prefbench.scorers.outcome import TIE_POLICIES, TiePolicy
from prefbench.scorers.pair_metadata import PairSampleMetadata, PairVerdict
from prefbench.scorers.pair_score import pair_score
from prefbench.scorers.registry import JudgeSettingsModel, judge
from prefbench.solvers.adapters import adapter_model
from prefbench.solvers.few_shot import render_examples
from prefbench.solvers.registry import Control, generation_system
from prefbench.solvers.training.context import BuildContext
from prefbench.solvers.training.lora import TrainingExample
from prefbench.solvers.training.training import request_user_adapter
from prefbench.solvers.writer import (
    generate_from_template,
    generation_cache,
    render_prompt,
    template_for,
)
from prefbench.tasks.corpora.registry import (
    CorpusText,
    NoOptions,
    SkippedText,
    corpus,
    generated_corpus,
)
from prefbench.tasks.cross_user import adapter_user
from prefbench.tasks.records import Record, Split, read_records, records_by_user
from prefbench.tasks.samples import (
    record_to_sample,
    render_context,
    sample_text_kind,
    sender_name,
)

__all__ = [
    "PURPOSES",
    "TIE_POLICIES",
    "BuildContext",
    "Control",
    "CorpusText",
    "JudgeSettingsModel",
    "NoOptions",
    "PairSampleMetadata",
    "PairVerdict",
    "PrefbenchInputError",
    "PromptTemplate",
    "Purpose",
    "Record",
    "RunFolder",
    "SkippedText",
    "Split",
    "TextKind",
    "TiePolicy",
    "TrainingExample",
    "adapter_model",
    "adapter_user",
    "corpus",
    "first_choice_shares",
    "generate_from_template",
    "generated_corpus",
    "generation_cache",
    "generation_system",
    "judge",
    "kind_template",
    "load_template",
    "lookup_text_kind",
    "order_free_score",
    "pair_score",
    "parse_failures",
    "read_records",
    "record_to_sample",
    "records_by_user",
    "register_text_kind",
    "render_context",
    "render_examples",
    "render_prompt",
    "request_user_adapter",
    "rotation_parse_failures",
    "sample_text_kind",
    "sender_name",
    "template_for",
    "win_rate",
]
