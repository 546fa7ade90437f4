"""inspect tasks (generation, judging, metrics), records, samples and the intents stage.

The corpora (`prefbench.tasks.corpora`) and the demo dataset (`prefbench.tasks.demo`) are
subpackages with their own public names; importing this package registers the built-in corpora.
"""

from prefbench.tasks import corpora, demo  # noqa: F401  (importing them registers the corpora)
from prefbench.tasks.cross_user import (
    AGENT_USER,
    adapter_user,
    cross_user_sample,
    cross_user_writing,
    personalization_matrix,
    personalization_statistics,
)
from prefbench.tasks.generation import personalized_writing
from prefbench.tasks.intents import chosen_intent, extract_intents, intent_task
from prefbench.tasks.metrics import (
    METRICS_VERSION,
    generation_metrics,
    scored_samples,
    similarity_rows,
)
from prefbench.tasks.multi_candidate import (
    join_generation_logs,
    multi_candidate_comparison,
    read_multi_candidate,
)
from prefbench.tasks.pairwise import (
    candidates_in_place,
    join_generations,
    pairwise_comparison,
    read_generation_log,
    system_of,
)
from prefbench.tasks.records import (
    SPLITS,
    Record,
    Split,
    read_records,
    records_by_user,
    write_records,
)
from prefbench.tasks.samples import record_to_sample, render_context, sender_name

__all__ = [
    "AGENT_USER",
    "METRICS_VERSION",
    "SPLITS",
    "Record",
    "Split",
    "adapter_user",
    "candidates_in_place",
    "chosen_intent",
    "cross_user_sample",
    "cross_user_writing",
    "extract_intents",
    "generation_metrics",
    "intent_task",
    "join_generation_logs",
    "join_generations",
    "multi_candidate_comparison",
    "pairwise_comparison",
    "personalization_matrix",
    "personalization_statistics",
    "personalized_writing",
    "read_generation_log",
    "read_multi_candidate",
    "read_records",
    "record_to_sample",
    "records_by_user",
    "render_context",
    "scored_samples",
    "sender_name",
    "similarity_rows",
    "system_of",
    "write_records",
]
