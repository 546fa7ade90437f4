"""Whose mail a mailbox keeps: the owner's from every address the headers show is theirs."""

from collections import Counter
from pathlib import Path

import pytest

from prefbench.tasks.corpora.email_cleaning import CleanedEmail, clean_email
from prefbench.tasks.corpora.enron import headers_name_owner
from prefbench.tasks.corpora.prepare import owner_addresses, prepare_corpus
from tests.test_enron_readers import SETTINGS, make_maildir

ENRON_X500 = "</O=ENRON/OU=NA/CN=RECIPIENTS/CN=JDOE>"


JOHN_DOE_FOLDER = "\\John_Doe_Jun2001\\Notes Folders\\Sent"


def cmu_email(
    n: int,
    sender: str,
    x_from: str | None,
    x_origin: str | None,
    x_folder: str | None = JOHN_DOE_FOLDER,
) -> bytes:
    """A message laid out as the CMU corpus lays it out, X- headers optional."""
    extra = ""
    if x_from is not None:
        extra += f"X-From: {x_from}\n"
    if x_folder is not None:
        extra += f"X-Folder: {x_folder}\n"
    if x_origin is not None:
        extra += f"X-Origin: {x_origin}\n"
    return (
        f"Message-ID: <{n}@x>\nDate: Mon, {n % 28 + 1} May 2001 10:02:00 -0700 (PDT)\n"
        f"From: {sender}\nTo: bob@x.com\nSubject: note {n}\n"
        f"Content-Type: text/plain; charset=us-ascii\n{extra}\n"
        f"Message {n}: the deal is done.\n\nJohn\n"
    ).encode()


def test_an_owner_sending_from_several_addresses_keeps_all_their_mail(tmp_path: Path) -> None:
    files: dict[str, bytes] = {}
    senders = (
        [("john.doe@enron.com", "John Doe", "DOE-J")] * 10
        + [("j.doe@enron.com", f"Doe, John {ENRON_X500}", "Doe-J")] * 4
        + [("doe@enron.com", "", "Doe-J")] * 3
        + [("mary.smith@enron.com", "Mary Smith", "DOE-J")] * 2  # the assistant, for him
    )
    for n, (sender, x_from, x_origin) in enumerate(senders, start=1):
        files[f"doe-j/sent/{n}."] = cmu_email(n, sender, x_from, x_origin)
    root = make_maildir(tmp_path / "src", files)
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=False)
    assert summary.kept == 17
    assert summary.dropped == {"not_owner": 2}
    assert {e.detail for e in summary.dropped_examples} == {"sent by mary.smith@enron.com"}


def test_an_address_the_headers_confirm_is_the_owners_in_other_messages_too(
    tmp_path: Path,
) -> None:
    files = {
        f"doe-j/sent/{n}.": cmu_email(n, "john.doe@enron.com", "John Doe", "DOE-J")
        for n in range(1, 6)
    }
    files["doe-j/sent/6."] = cmu_email(6, "jd@enron.com", "John Doe", "DOE-J")
    files["doe-j/sent/7."] = cmu_email(7, "jd@enron.com", None, None, None)  # no X- headers
    files["doe-j/sent/8."] = cmu_email(8, "someone@enron.com", None, None, None)
    root = make_maildir(tmp_path / "src", files)
    summary = prepare_corpus("enron", root, tmp_path / "out", **SETTINGS, strict=False)
    assert summary.kept == 7 and summary.dropped == {"not_owner": 1}


@pytest.mark.parametrize(
    ("mailbox", "x_from", "x_origin", "owner"),
    [
        ("dasovich-j", f"Dasovich, Jeff {ENRON_X500}", "Shankman-J", True),
        ("dasovich-j", "Jeff Dasovich", None, True),
        ("stclair-c", "Carol St Clair", "STCLAIR-C", True),
        ("scott-s", "Susan M Scott", "SCOTT-S", True),
        ("scott-s", "Sam Scottson", "SCOTT-S", True),
        ("symes-k", "Sam Symes", "SYMES-K", False),  # a relative: the initial differs
        ("lay-k", "Rosalee Fleming", "Lay-K", False),  # the assistant, in his own export
        ("doe-j", "jdoe@enron.com", "DOE-J", True),
        ("doe-j", "", "Doe-J", True),
        ("doe-j", "", "Smith-A", False),
        ("doe-j", None, None, True),  # X-Folder names him: \John_Doe_Jun2001\...
        ("smith-a", None, None, False),
    ],
)
def test_headers_name_owner(
    mailbox: str, x_from: str | None, x_origin: str | None, owner: bool
) -> None:
    email = clean_email(cmu_email(1, "someone@enron.com", x_from, x_origin))
    assert isinstance(email, CleanedEmail)
    assert headers_name_owner(mailbox, email) is owner


def test_confirmed_addresses_lead_the_owner_pick() -> None:
    senders = Counter({"assistant@enron.com": 30, "jd@enron.com": 5, "other@enron.com": 2})
    assert owner_addresses(senders, "doe-j") == {"assistant@enron.com"}
    assert owner_addresses(senders, "doe-j", confirmed={"jd@enron.com"}) == {"jd@enron.com"}


# --- a reply separator glued to the end of a line of text (cases in test_enron_cleaning) -----


def test_glued_separator_in_a_whole_message() -> None:
    raw = (
        b"Date: Mon, 14 May 2001 10:02:00 -0700\nFrom: john.doe@enron.com\nSubject: x\n\n"
        b"Please call me asap-----Original Message-----\nFrom: Bob\nSent: Monday\n"
        b"To: John\nSubject: x\n\nCan you call?\n"
    )
    email = clean_email(raw)
    assert isinstance(email, CleanedEmail)
    assert email.content == "Please call me asap"
    assert "Can you call?" in email.previous_context and "Original" not in email.content
