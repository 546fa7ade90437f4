"""New Yorker articles from an All the News 2.0 CSV built here."""

import csv
import json
from pathlib import Path

import pytest

from prefbench.core.errors import PrefbenchInputError
from prefbench.tasks.corpora.new_yorker import Article, iter_articles, parse_article_date
from prefbench.tasks.corpora.prepare import corpus_stats, prepare_corpus
from prefbench.tasks.records import read_records

COLUMNS = [
    "date",
    "year",
    "month",
    "day",
    "author",
    "title",
    "article",
    "url",
    "section",
    "publication",
]
SETTINGS = dict(users=None, min_records=1, seed=0, split="random", strict=False)


def article_row(n: int, author: str, publication: str = "The New Yorker", **overrides) -> dict:
    row = {
        "date": f"2017-{n % 12 + 1:02d}-{n % 27 + 1:02d} 09:00:00",
        "year": "2017",
        "month": str(n % 12 + 1),
        "day": str(n % 27 + 1),
        "author": author,
        "title": f"Title {n}",
        "article": f"Paragraph one of article {n} by {author}.  \r\n\r\n\r\n\r\nParagraph two.",
        "url": f"https://www.newyorker.com/article-{n}",
        "section": "culture",
        "publication": publication,
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def news_csv(tmp_path: Path) -> Path:
    rows = [article_row(n, "Jill Lepore") for n in range(8)]
    rows += [article_row(n + 100, "Adam Gopnik") for n in range(4)]
    rows += [article_row(n + 200, "Someone Else", publication="Vox") for n in range(5)]
    rows.append(article_row(300, "", title="Unsigned"))
    rows.append(article_row(301, "Jill Lepore", date="soon", year="", month="", day=""))
    rows.append(article_row(302, "Jill Lepore", article="   "))
    rows.append(article_row(303, "Adam Gopnik", article=rows[8]["article"], url="other"))
    rows.append(article_row(304, "Huge Author", article="word " * 200_000))
    return write_csv(tmp_path / "all-the-news-2-1.csv", rows)


def test_keeps_new_yorker_rows_with_authors_as_users(news_csv: Path, tmp_path: Path) -> None:
    summary = prepare_corpus(
        "new_yorker", news_csv, tmp_path / "out", user_field="author", **SETTINGS
    )
    assert summary.users == ["Adam Gopnik", "Huge Author", "Jill Lepore"]
    assert summary.dropped == {
        "bad_date": 1,
        "duplicate": 1,
        "empty_body": 1,
        "missing_author": 1,
        "not_new_yorker": 5,
    }
    records = read_records(tmp_path / "out" / "records.jsonl")
    assert {record.dataset for record in records} == {"new_yorker"}
    lepore = [record for record in records if record.user == "Jill Lepore"]
    assert len(lepore) == 8
    assert [record.split for record in lepore].count("test") == 4  # 50/50
    first = next(record for record in lepore if record.metadata["title"] == "Title 0")
    assert first.metadata == {
        "author": "Jill Lepore",
        "title": "Title 0",
        "section": "culture",
        "date": "2017-01-01T09:00:00",
    }
    assert first.content == "Paragraph one of article 0 by Jill Lepore.\n\nParagraph two."
    assert first.previous_context == ""
    assert first.source == f"csv:{news_csv}:row 2"
    assert first.id.startswith("new_yorker-")
    huge = next(record for record in records if record.user == "Huge Author")
    assert len(huge.content.split()) == 200_000


def test_publication_as_the_user(news_csv: Path, tmp_path: Path) -> None:
    summary = prepare_corpus(
        "new_yorker", news_csv, tmp_path / "out", user_field="publication", **SETTINGS
    )
    assert summary.users == ["The New Yorker"]
    assert "missing_author" not in summary.dropped
    records = read_records(tmp_path / "out" / "records.jsonl")
    assert len(records) == 14  # 8 + 4 + unsigned + huge
    assert sum(record.split == "test" for record in records) == 7
    report = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    assert report["settings"]["user_field"] == "publication"


def test_min_records_and_users_pick(news_csv: Path, tmp_path: Path) -> None:
    settings = {**SETTINGS, "min_records": 4, "users": 1, "seed": 5}
    summary = prepare_corpus(
        "new_yorker", news_csv, tmp_path / "a", user_field="author", **settings
    )
    again = prepare_corpus("new_yorker", news_csv, tmp_path / "b", user_field="author", **settings)
    assert summary.eligible_users == 2 and summary.users_below_min_records == 1
    assert len(summary.users) == 1 and summary.users == again.users
    assert (tmp_path / "a" / "records.jsonl").read_bytes() == (
        tmp_path / "b" / "records.jsonl"
    ).read_bytes()


def test_chronological_split_puts_latest_articles_in_test(news_csv: Path, tmp_path: Path) -> None:
    prepare_corpus(
        "new_yorker",
        news_csv,
        tmp_path / "out",
        user_field="author",
        **{**SETTINGS, "split": "chronological"},
    )
    lepore = [
        r for r in read_records(tmp_path / "out" / "records.jsonl") if r.user == "Jill Lepore"
    ]
    train = [r.metadata["date"] for r in lepore if r.split == "train"]
    test = [r.metadata["date"] for r in lepore if r.split == "test"]
    assert max(train) < min(test)


def test_missing_columns_name_found_and_needed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "news.csv",
        [article_row(1, "A")],
        columns=["date", "author", "title", "content", "publication"],
    )
    with pytest.raises(PrefbenchInputError) as caught:
        prepare_corpus("new_yorker", path, tmp_path / "out", user_field="author", **SETTINGS)
    message = str(caught.value)
    assert "article, section" in message
    assert "found: date, author, title, content, publication" in message
    assert "needed: date, author, title, article, section, publication" in message
    assert not (tmp_path / "out").exists()


def test_truncated_csv(tmp_path: Path) -> None:
    rows = [article_row(n, "Jill Lepore") for n in range(4)]
    text = write_csv(tmp_path / "full.csv", rows).read_text(encoding="utf-8")
    cut = tmp_path / "cut.csv"
    cut.write_text(text[: text.index("Paragraph two", text.index("article 3"))], encoding="utf-8")
    summary = prepare_corpus("new_yorker", cut, tmp_path / "out", user_field="author", **SETTINGS)
    assert summary.kept == 3 and summary.dropped == {"truncated": 1}
    with pytest.raises(PrefbenchInputError, match="truncated"):
        prepare_corpus(
            "new_yorker",
            cut,
            tmp_path / "strict",
            user_field="author",
            **{**SETTINGS, "strict": True},
        )
    assert not (tmp_path / "strict").exists()


def test_iter_articles_streams_rows(news_csv: Path) -> None:
    first = next(iter_articles(news_csv))
    assert isinstance(first, Article) and first.row == 2 and first.author == "Jill Lepore"


def test_parse_article_date_falls_back_to_year_month_day() -> None:
    assert parse_article_date("2016-12-09 18:31:00").isoformat() == "2016-12-09T18:31:00"
    assert parse_article_date("", "2016.0", "12.0", "9.0").isoformat() == "2016-12-09T00:00:00"
    assert parse_article_date("junk") is None


def test_stats_on_new_yorker(news_csv: Path, tmp_path: Path) -> None:
    prepare_corpus("new_yorker", news_csv, tmp_path / "out", user_field="author", **SETTINGS)
    stats = corpus_stats(tmp_path / "out")
    assert stats.users == 3
    assert stats.records_per_user["Jill Lepore"] == 8
    assert stats.dropped["not_new_yorker"] == 5
    rows = dict(stats.to_rows())
    assert rows["users"] == "3"
    assert "content words p10/p50/p90 (all)" in rows
