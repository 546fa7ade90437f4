"""Human evaluation: export of blinded pairs, the annotation web app, import, agreement.

- `folder`: paths under `runs/NAME/human/`.
- `bundle`: the exported bundle (`bundle.json`, `items.jsonl`, `key.json`) and its reader.
- `export`: `prefbench human export` (sampling, blinding, Label Studio files).
- `store`: the append-only SQLite answers database and the one current-answer rule.
- `backup`: `prefbench human backup` and the snapshot `serve` takes.
- `server`: `prefbench human serve`, the FastAPI annotation app; `web_guard`: its sessions,
  sign-in throttle and request checks.
- `importers`, `attach`, `judged_item`, `agreement`: answers from elsewhere, human scores on
  the judge logs, and the agreement statistics.
- The `prefbench human` commands live in `harness/human_cli.py` and `human_results_cli.py`.

Submodules are imported directly (the web app's dependencies load only when serving).
"""
