"""Every hosted model the README, the docs or a built-in profile names has a price."""

import re
from pathlib import Path

from prefbench.harness.cost.spend import list_price_of, price_list

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOCUMENTS += sorted((REPO / "harness" / "profiles").glob("*.yaml"))


def test_every_named_hosted_model_has_a_price():
    priced_providers = sorted({model.split("/", 1)[0] for model in price_list().models})
    pattern = re.compile(rf"\b(?:{'|'.join(priced_providers)})/[A-Za-z0-9][A-Za-z0-9._-]*")
    named = {
        match.group(0).rstrip(".")
        for document in DOCUMENTS
        for match in pattern.finditer(document.read_text(encoding="utf-8"))
    }
    assert "anthropic/claude-3-5-sonnet-latest" in named and "openai/gpt-4o" in named
    unpriced = sorted(model for model in named if list_price_of(model) is None)
    assert not unpriced, f"add these to harness/cost/prices.yaml: {unpriced}"
