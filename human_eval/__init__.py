"""Human evaluation: export of blinded pairs, the annotation web app, import, agreement.

- `folder`: paths under `runs/NAME/human/`.
- `bundle`: the exported bundle (`bundle.json`, `items.jsonl`, `key.json`) and its reader.
- `export`: `prefbench human export` (sampling, blinding, Label Studio files).
- `store`: the append-only SQLite answers database.
- `server`: `prefbench human serve`, the FastAPI annotation app.
- `cli`: the `human_app` typer commands `export` and `serve`.

Submodules are imported directly (the web app's dependencies load only when serving).
"""
