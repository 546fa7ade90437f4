"""inspect entry point (`[project.entry-points.inspect_ai] prefbench`): prefbench's providers.

inspect imports every module named under its entry points before it makes its first model,
so every `inspect` process in the environment imports this one: it stays cheap. It registers
prefbench's model providers (`prefbench-plan`, the dry run's planning model, and
`prefbench-lora`, per-user adapters on a shared base), each as a function that imports its
class when inspect first makes such a model, as inspect registers its own providers.

prefbench's systems, judges and corpora are not registered here: they register when
prefbench's packages are imported, and plug-ins through prefbench's own entry-point group
(`prefbench.core.plugins`). Only when prefbench's names are wanted from inspect does this
module import prefbench's tasks, solvers and scorers, so that `prefbench/NAME` resolves:
when inspect looks up such a name it does not know, and when the command line names one
(`inspect eval prefbench/personalized_writing --solver prefbench/few_shot ...`: inspect
imports its entry points before it resolves the task).
"""

import sys

from inspect_ai.model import ModelAPI, modelapi

PACKAGE = "prefbench"


@modelapi(name="prefbench-plan")
def planning_model() -> type[ModelAPI]:
    """The dry run's planning model (`prefbench.harness.cost.planning_model`)."""
    from prefbench.harness.cost.planning_model import PlanningModelAPI

    return PlanningModelAPI


@modelapi(name="prefbench-lora")
def lora_adapter_model() -> type[ModelAPI]:
    """A user's adapter on a shared base model (`prefbench.solvers.lora_engine`)."""
    from prefbench.solvers.lora_engine import LoraAdapterAPI

    return LoraAdapterAPI


def _names_wanted() -> bool:
    """Whether inspect imports this module to resolve prefbench's task or solver names.

    Yes when the command line names one (`prefbench/...`), or when inspect's
    `ensure_entry_points(package)` imports the entry points named `package` because a
    lookup of `prefbench/NAME` missed; no when it imports every entry point (package None)
    before it makes a model. When the module is imported otherwise (no such caller, e.g.
    inspect changed), the answer is yes: registering too much is slower, never wrong.
    """
    if any(argument.startswith(f"{PACKAGE}/") for argument in sys.argv[1:]):
        return True
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "ensure_entry_points" and code.co_filename.endswith("entrypoints.py"):
            return frame.f_locals.get("package") == PACKAGE
        frame = frame.f_back
    return True


if _names_wanted():
    import prefbench.scorers
    import prefbench.solvers
    import prefbench.tasks  # noqa: F401
