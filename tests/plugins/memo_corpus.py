"""A plug-in corpus of a text kind of its own: internal memos, with their own prompts (`memo/`).

Each line of the source is ``{"id", "user", "date", "text"}``. Installed by the tests through
a stand-in distribution (`tests.plugins.install_plugin`).
"""

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prefbench.plugin import CorpusText, NoOptions, SkippedText, corpus, register_text_kind

MEMO = register_text_kind("memo", Path(__file__).parent / "memo", "internal memos")


@corpus(name="memos", text_kind=MEMO, source="a .jsonl file of memos", test_fraction=0.25)
def read_memos(source: Path, options: NoOptions) -> Iterator[CorpusText | SkippedText]:
    """Internal memos; one user per author."""
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        yield CorpusText(
            user=row["user"],
            id=row["id"],
            content=row["text"],
            timestamp=datetime.fromisoformat(row["date"]).timestamp(),
            metadata={"subject": row.get("subject", "")},
            source=f"{source}:{number}",
        )
