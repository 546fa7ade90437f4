"""The cross-user stage: the K×K personalization matrix of `metrics.personalization_system`.

Every user's test texts are written with every user's agent (`cross_user_writing`,
`logs/cross/`), the outputs are scored like the generations (`logs/metrics/`), and the K×K
BERTScore matrix is printed and kept as the report.json `personalization` section (its
heatmap is one of the report's figures, `prefbench.harness.report.figures`). The diagonal sends the
prompts of the generation stage and is answered from its cache.
"""

from typing import TYPE_CHECKING, Any

from prefbench.core.errors import PrefbenchInputError
from prefbench.core.tables import rich_tables
from prefbench.harness.prompt_files import (
    prompts_fingerprint,
    system_code_key,
    text_kind_prompts_key,
)
from prefbench.harness.report.schema import PersonalizationSection
from prefbench.harness.report.tables import personalization_section
from prefbench.harness.stages.base import PipelineContext, Stage
from prefbench.harness.stages.generation import load_adapters_of, system_options, system_request
from prefbench.harness.stages.similarity import score_generations
from prefbench.scorers.bertscore import encoder_name
from prefbench.solvers import lookup_system
from prefbench.solvers.adapters import adapter_hashes, release_adapter_models
from prefbench.tasks.cross_user import cross_user_writing, personalization_matrix
from prefbench.tasks.records import Record, records_fingerprint

if TYPE_CHECKING:
    from prefbench.harness.cost.plan import Planner


class CrossUserStage(Stage):
    """Cross the personalization system's agents with every user's test set.

    Skipped when `metrics.personalization_system` is null. Otherwise one
    `cross_user_writing` eval with the system's solver and roles, keyed like its generation
    stage plus the agent users, scored with BERTScore; the section is
    `prefbench.tasks.cross_user.personalization_matrix` plus the `encoder`.

    Raises:
        PrefbenchInputError: when the system has no per-user adapters (nothing to cross)
            or an adapter is missing (the message names the build command).
    """

    name = "cross_user"
    title = "personalization matrix"
    section = "personalization"

    def key(
        self, context: PipelineContext, system_name: str, records: list[Record], users: list[str]
    ) -> dict[str, Any]:
        """The inputs of the cross-user eval of `users`' agents over their test sets."""
        return {
            "system": system_name,
            "records": records_fingerprint(records),
            "options": system_options(context.profile, system_name),
            "adapters": adapter_hashes(context.run.root, system_name, users),
            "agent_users": users,
            "prompts": prompts_fingerprint(),
            "limit": context.limit,
            **system_code_key(lookup_system(system_name).solver_factory),
            **text_kind_prompts_key(records),
        }

    def calls_models(self, context: PipelineContext) -> bool:
        """Whether the profile asks for the K×K test (its agents write every test set)."""
        return context.profile.metrics.personalization_system is not None

    def run(self, context: PipelineContext) -> None:
        """Run (or reuse) the cross-user eval and its metrics; store the matrix section."""
        name = context.profile.metrics.personalization_system
        if name is None:
            return
        self.heading(context, f" ({name})")
        system = lookup_system(name)
        if not system.uses_adapter:
            raise PrefbenchInputError(
                f"metrics.personalization_system '{name}' has no per-user adapters, so its "
                "agents cannot be crossed with other users' test sets: choose an adapter "
                "system such as preference_agent, or set it to null."
            )
        records = context.require_records()
        test = [record for record in records if record.split == "test"][: context.limit]
        users = sorted({record.user for record in test})
        key = self.key(context, name, records, users)
        task = cross_user_writing(
            records=str(context.run.records), agent_users=users, limit=context.limit
        )
        request = system_request(context, "cross", task, system, key)
        cross = context.runner.run_stages(
            [request],
            on_done=release_adapter_models,
            before_eval=lambda pending: load_adapters_of(context, pending, users),
        )[0]
        if context.planning:
            return  # the matrix is local BERTScore: no model call to plan
        scored = score_generations(context, f"metrics-cross-{name}", cross, text_metrics=False)
        settings = context.profile.metrics
        section = personalization_matrix(
            scored.read(), settings.encoder, settings.num_layers, seed=context.profile.seed
        )
        section = {**section, "encoder": encoder_name(settings.encoder)}
        context.console.print(
            rich_tables(
                personalization_section(PersonalizationSection.model_validate(section)).tables
            )
        )
        self.keep_section(context, section)

    def plan(self, context: PipelineContext, planner: "Planner") -> None:
        """Plan the cross-user eval (and its local metrics) unless the run folder has it.

        When the system's generation is finished, the diagonal (each agent on its own user's
        texts) is left out: the run answers it from the generation stage's cache.
        """
        name = context.profile.metrics.personalization_system
        if name is None:
            return
        system = lookup_system(name)
        records = context.require_records()
        test = [record for record in records if record.split == "test"][: context.limit]
        users = sorted({record.user for record in test})
        key = self.key(context, name, records, users)
        finished = planner.finished("cross", f"cross-{name}", system.roles, key)
        if finished is not None and not finished.failed:
            return
        task = cross_user_writing(
            records=str(context.run.records), agent_users=users, limit=context.limit
        )
        cached = name in context.generation_logs
        samples = [
            sample
            for sample in task.dataset
            if not (cached and (sample.metadata or {}).get("agent_user") == sample.metadata["user"])
        ]
        solver = system.make_solver(str(context.run.root), **key["options"])
        try:
            planner.evaluate(self.name, "cross", f"cross-{name}", samples, system.roles, solver)
        finally:
            release_adapter_models()
        planner.local(self.name, "metrics", f"metrics-cross-{name}")
