"""Similarity stages: metrics of every system's generations, and the personalization matrix.

- `run_similarity_metrics`: one `generation_metrics` eval per system's generation log
  (`logs/metrics/`), BERTScore and, when the profile asks, BLEU / ROUGE-L / TF-IDF cosine;
  the report.json `similarity` section.
- `run_personalization`: the profile's `metrics.personalization_system` writes every
  user's test texts with every user's agent (`cross_user_writing`, `logs/cross/`), the
  outputs are scored like the generations (`logs/metrics/`), and the K×K BERTScore matrix
  is printed and returned: the report.json `personalization` section (its heatmap is one
  of the report's figures, `harness.figures`).

Both stages are keyed by their inputs and reused when finished; the diagonal of the
cross-user stage sends the prompts of the generation stage and is answered from its cache.
"""

from typing import TYPE_CHECKING, Any

from rich.table import Table

from core.errors import PrefbenchInputError
from core.fingerprint import fingerprint
from harness.prompt_files import prompts_fingerprint
from harness.stages import StageResult
from scorers.bertscore import encoder_name
from solvers import lookup_system
from solvers.adapters import adapter_hashes, release_adapter_models
from tasks.cross_user import cross_user_writing, personalization_matrix
from tasks.metrics import METRICS_VERSION, generation_metrics, similarity_rows
from tasks.records import Record

if TYPE_CHECKING:
    from harness.pipeline import PipelineContext


def _score_generations(
    context: "PipelineContext", stage: str, generations: StageResult, text_metrics: bool
) -> StageResult:
    """A `generation_metrics` eval over a finished generation (or cross-user) log."""
    settings = context.profile.metrics
    key = {
        "generations": generations.stage_key(),
        "encoder": encoder_name(settings.encoder),
        "num_layers": settings.num_layers,
        "text_metrics": text_metrics,
        "metrics_version": METRICS_VERSION,
    }
    task = generation_metrics(
        generations=str(generations.log_path),
        encoder=settings.encoder,
        num_layers=settings.num_layers,
        text_metrics=text_metrics,
    )
    system = (generations.read_header().eval.metadata or {}).get("system")
    return context.runner.run_stage("metrics", stage, task, (), key, metadata={"system": system})


def similarity_table(section: dict[str, Any]) -> Table:
    """The `similarity` section as a rich table: one row per (system, dataset)."""
    table = Table(title=f"similarity to the ground truth (BERTScore: {section['encoder']})")
    for column in ("system", "dataset", "n", "BERTScore F1 [95% CI]", "BLEU", "ROUGE-L", "TF-IDF"):
        table.add_column(column, justify="left" if column in ("system", "dataset") else "right")
    for row in section["rows"]:
        interval = ""
        if row["bertscore_f1_ci_low"] is not None:
            interval = f" [{row['bertscore_f1_ci_low']:.3f}, {row['bertscore_f1_ci_high']:.3f}]"
        texts = [
            "—" if row[name] is None else f"{row[name]:.3f}"
            for name in ("bleu", "rouge_l", "tfidf_cosine")
        ]
        table.add_row(
            row["system"],
            row["dataset"],
            str(row["n"]),
            f"{row['bertscore_f1']:.3f}{interval}",
            *texts,
        )
    return table


def run_similarity_metrics(context: "PipelineContext") -> dict[str, Any]:
    """Score every profile system's generation log; the report.json `similarity` section.

    Returns `{"encoder": name, "num_layers": n, "rows": [...]}` with the rows of
    `tasks.metrics.similarity_rows`, systems in profile order. An input error names the
    systems without a generation log.
    """
    context.console.rule("[bold]similarity metrics")
    profile = context.profile
    from harness.pipeline import require_generation_logs  # pipeline imports this module

    require_generation_logs(context)
    rows = []
    for name in profile.systems:
        scored = _score_generations(
            context, f"metrics-{name}", context.generation_logs[name], profile.metrics.text_metrics
        )
        rows += similarity_rows(scored.read(), seed=profile.seed)
    section = {
        "encoder": encoder_name(profile.metrics.encoder),
        "num_layers": profile.metrics.num_layers,
        "rows": rows,
    }
    context.console.print(similarity_table(section))
    return section


def personalization_table(section: dict[str, Any]) -> Table:
    """The K×K matrix as a rich table: rows = agent user, columns = test-set user.

    Each column's best cell is bold, diagonal cells are underlined.
    """
    users = section["users"]
    matrix = section["matrix"]
    table = Table(
        title=f"{section['system']}: BERTScore F1 of agent (row) × test set (column)",
        caption=(
            f"diagonal best in {section['diagonal_best_columns']}/{section['k']} columns; "
            f"mean diagonal {_number(section['diagonal_mean'])}, off-diagonal "
            f"{_number(section['off_diagonal_mean'])}; p = {_number(section['p_value'])}"
        ),
    )
    table.add_column("agent \\ test set")
    for user in users:
        table.add_column(user, justify="right")
    column_best = [max(row[column] for row in matrix) for column in range(len(users))]
    for row_index, (user, row) in enumerate(zip(users, matrix, strict=True)):
        cells = []
        for column, value in enumerate(row):
            style = "bold" if value == column_best[column] else ""
            style += " underline" if column == row_index else ""
            cells.append(f"[{style.strip()}]{value:.3f}[/]" if style else f"{value:.3f}")
        table.add_row(user, *cells)
    return table


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def run_personalization(context: "PipelineContext", records: list[Record]) -> dict[str, Any] | None:
    """Cross the personalization system's agents with every user's test set (the K×K matrix).

    None when the profile's `metrics.personalization_system` is null. Otherwise one
    `cross_user_writing` eval (`logs/cross/`, the system's solver and roles, keyed like its
    generation stage plus the agent users), scored with BERTScore (`logs/metrics/`); the
    matrix is printed and returned as the report.json `personalization` section
    (`tasks.cross_user.personalization_matrix`, plus the `encoder`).

    Raises:
        PrefbenchInputError: when the system has no per-user adapters (nothing to cross)
            or an adapter is missing (the message names the build command).
    """
    from harness.pipeline import system_options  # the pipeline imports this module

    name = context.profile.metrics.personalization_system
    if name is None:
        return None
    context.console.rule(f"[bold]personalization matrix ({name})")
    system = lookup_system(name)
    if not system.uses_adapter:
        raise PrefbenchInputError(
            f"metrics.personalization_system '{name}' has no per-user adapters, so its agents "
            "cannot be crossed with other users' test sets: choose an adapter system such as "
            "preference_agent, or set it to null."
        )
    test = [record for record in records if record.split == "test"][: context.limit]
    users = sorted({record.user for record in test})
    options = system_options(context.profile, name)
    key = {
        "system": name,
        "records": fingerprint([record.model_dump() for record in records]),
        "options": options,
        "adapters": adapter_hashes(context.run.root, name, users),
        "agent_users": users,
        "prompts": prompts_fingerprint(),
        "limit": context.limit,
    }
    task = cross_user_writing(
        records=str(context.run.records), agent_users=users, limit=context.limit
    )
    cross = context.runner.run_stage(
        "cross",
        f"cross-{name}",
        task,
        system.roles,
        key,
        metadata={"system": name},
        solver=system.make_solver(str(context.run.root), **options),
        on_done=release_adapter_models,
    )
    scored = _score_generations(context, f"metrics-cross-{name}", cross, text_metrics=False)
    settings = context.profile.metrics
    section = personalization_matrix(
        scored.read(), settings.encoder, settings.num_layers, seed=context.profile.seed
    )
    section = {**section, "encoder": encoder_name(settings.encoder)}
    context.console.print(personalization_table(section))
    return section
