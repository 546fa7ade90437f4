"""Human evaluation: export of blinded pairs, the annotation web app, import, agreement.

- `folder`: paths under `runs/NAME/human/`.
- `bundle`: the exported bundle (`bundle.json`, `items.jsonl`, `key.json`) and its reader.
- `export`: `prefbench human export` (sampling, blinding, Label Studio files).
- `store`: the append-only SQLite answers database and the one current-answer rule.
- `backup`: `prefbench human backup` and the snapshot `serve` takes.
- `server`: `prefbench human serve`, the FastAPI annotation app; `web_guard`: its sessions,
  sign-in throttle and request checks.
- `importers`, `attach`, `judged_item`, `agreement`: answers from elsewhere, human scores on
  the judge logs, and the agreement statistics; `agreement_render` its tables.
- The `prefbench human` commands live in `harness/human_cli.py` and `human_results_cli.py`.

The package exports the entry points of the data side: the agreement section and its
records, the bundle and its reader and writer, the export, the folder. The statistics the
agreement section is built from (kappas, alpha, the item bootstrap) are in
`prefbench.human_eval.agreement`; the web app (`server`) is imported from its module, so that its
dependencies load only when serving.
"""

from prefbench.human_eval.agreement import (
    Estimate,
    JudgedItem,
    agreement_section,
    agreement_statistics,
)
from prefbench.human_eval.bundle import (
    Annotator,
    Bundle,
    KeyEntry,
    item_order_for,
    read_bundle,
    write_bundle,
)
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder

__all__ = [
    "Annotator",
    "Bundle",
    "Estimate",
    "HumanFolder",
    "JudgedItem",
    "KeyEntry",
    "agreement_section",
    "agreement_statistics",
    "export_bundle",
    "item_order_for",
    "read_bundle",
    "write_bundle",
]
