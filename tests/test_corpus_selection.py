"""User selection, splits, drop counting and the on-disk user spool."""

import pytest

from prefbench.tasks.corpora.selection import DropCounter, UserSpool, assign_splits, select_users

COUNTS = {"ann": 30, "ben": 5, "cat": 20, "dan": 19, "eve": 100, "fay": 21}


def test_select_users_is_seeded_and_respects_min_records() -> None:
    picked = select_users(COUNTS, users=2, min_records=20, seed=1)
    assert picked == select_users(dict(reversed(COUNTS.items())), users=2, min_records=20, seed=1)
    assert len(picked) == 2 and picked == sorted(picked)
    assert set(picked) <= {"ann", "cat", "eve", "fay"}
    picks = {tuple(select_users(COUNTS, users=2, min_records=20, seed=s)) for s in range(20)}
    assert len(picks) > 1


def test_select_users_all_or_fewer_eligible() -> None:
    assert select_users(COUNTS, users=None, min_records=20, seed=0) == ["ann", "cat", "eve", "fay"]
    assert select_users(COUNTS, users=15, min_records=21, seed=0) == ["ann", "eve", "fay"]
    assert select_users(COUNTS, users=3, min_records=1000, seed=0) == []


@pytest.mark.parametrize(("users", "min_records"), [(0, 1), (-1, 1), (3, 0)])
def test_select_users_rejects_bad_arguments(users: int, min_records: int) -> None:
    with pytest.raises(ValueError):
        select_users(COUNTS, users=users, min_records=min_records, seed=0)


def items(count: int) -> list[dict]:
    return [{"id": f"r{n:03d}", "date": 1000 - n} for n in range(count)]


def split(entries: list[dict], **overrides) -> list[tuple[dict, str]]:
    settings = dict(test_fraction=0.2, mode="random", seed=0, user="ann")
    settings.update(overrides)
    return assign_splits(
        entries, item_id=lambda item: item["id"], item_date=lambda item: item["date"], **settings
    )


def test_random_split_is_80_20_seeded_and_order_independent() -> None:
    result = split(items(50))
    assert sum(part == "test" for _, part in result) == 10
    assert result == split(list(reversed(items(50))))
    other_seed = split(items(50), seed=1)
    assert {i["id"] for i, p in result if p == "test"} != {
        i["id"] for i, p in other_seed if p == "test"
    }
    other_user = split(items(50), user="ben")
    assert {i["id"] for i, p in result if p == "test"} != {
        i["id"] for i, p in other_user if p == "test"
    }


def test_result_is_in_date_order() -> None:
    dates = [item["date"] for item, _ in split(items(10))]
    assert dates == sorted(dates)


def test_chronological_split_puts_the_latest_in_test() -> None:
    result = split(items(10), mode="chronological")
    test_ids = [item["id"] for item, part in result if part == "test"]
    assert test_ids == ["r001", "r000"]  # the two latest dates (999, 1000)


def test_half_split_and_small_users() -> None:
    assert sum(p == "test" for _, p in split(items(9), test_fraction=0.5)) == 4
    assert [p for _, p in split(items(2))].count("test") == 1
    assert [p for _, p in split(items(1))] == ["train"]


def test_split_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        split(items(3), mode="alphabetical")
    with pytest.raises(ValueError, match="test_fraction"):
        split(items(3), test_fraction=1.0)


def test_drop_counter_counts_and_keeps_a_few_examples() -> None:
    drops = DropCounter(examples_per_reason=2)
    for n in range(5):
        drops.add("duplicate", f"file-{n}", "same text")
    drops.add("bad_date", "file-9", "junk")
    assert drops.as_dict() == {"bad_date": 1, "duplicate": 5}
    assert drops.total == 6
    assert [e.source for e in drops.examples] == ["file-0", "file-1", "file-9"]


def test_user_spool_groups_by_user_and_cleans_up() -> None:
    with UserSpool() as spool:
        spool.add("ann", {"n": 1})
        spool.add("b/o b", {"n": 2})
        spool.add("ann", {"n": 3, "text": "caf\u00e9 \udcff"})
        assert spool.users() == ["ann", "b/o b"]
        assert spool.count("ann") == 2
        assert [item["n"] for item in spool.read("ann")] == [1, 3]
        assert list(spool.read("nobody")) == []
        folder = spool._folder
    assert not folder.exists()
