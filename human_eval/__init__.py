"""Human evaluation: export of blinded pairs, the annotation web app, import, agreement.

- `folder`: paths under `runs/NAME/human/`.
- `bundle`: the exported bundle (`bundle.json`, `items.jsonl`, `key.json`) and its reader.
- `export`: `prefbench human export` (sampling, blinding, Label Studio files).
- `store`: the append-only SQLite answers database.
- `server`: `prefbench human serve`, the FastAPI annotation app.
- `importers`, `attach`: answers read from files and attached to the judge logs.
- `agreement`: agreement statistics of humans and judges; `agreement_render` its tables.

The names below are the package's data-side API; the web app (`server`) is imported from its
module, so that its dependencies load only when serving.
"""

from human_eval.agreement import (
    Estimate,
    JudgedItem,
    agreement_section,
    agreement_statistics,
    bootstrap_interval,
    category_counts,
    cohen_kappa,
    fleiss_kappa_of_counts,
    krippendorff_alpha_of_counts,
    majority_outcome,
    pairwise_agreement_of_counts,
    raw_agreement,
)
from human_eval.bundle import (
    Annotator,
    Bundle,
    BundleComparison,
    BundleItem,
    BundleManifest,
    KeyEntry,
    item_order_for,
    read_bundle,
    write_bundle,
)
from human_eval.export import export_bundle
from human_eval.folder import HumanFolder

__all__ = [
    "Annotator",
    "Bundle",
    "BundleComparison",
    "BundleItem",
    "BundleManifest",
    "Estimate",
    "HumanFolder",
    "JudgedItem",
    "KeyEntry",
    "agreement_section",
    "agreement_statistics",
    "bootstrap_interval",
    "category_counts",
    "cohen_kappa",
    "export_bundle",
    "fleiss_kappa_of_counts",
    "item_order_for",
    "krippendorff_alpha_of_counts",
    "majority_outcome",
    "pairwise_agreement_of_counts",
    "raw_agreement",
    "read_bundle",
    "write_bundle",
]
