"""Cleaning of single Enron messages: real CMU files from ../shared, and synthetic edge cases."""

from pathlib import Path

import pytest

from prefbench.tasks.corpora.email_cleaning import (
    CleanedEmail,
    Dropped,
    clean_email,
    decode_bytes,
    normalize_whitespace,
    split_previous_context,
)
from prefbench.tasks.corpora.prepare import owner_addresses


def clean_file(shared_data: Path, relative: str) -> CleanedEmail | Dropped:
    return clean_email((shared_data / "enron-sample" / "maildir" / relative).read_bytes())


def cleaned(shared_data: Path, relative: str) -> CleanedEmail:
    result = clean_file(shared_data, relative)
    assert isinstance(result, CleanedEmail), result
    return result


# --- real messages -------------------------------------------------------------------------


def test_outlook_reply_chain_is_split(shared_data: Path) -> None:
    email = cleaned(shared_data, "dasovich-j/sent_items/1011.")
    lines = email.content.split("\n")
    assert lines[0] == (
        "Not surprising, but thought you might be interested.  "
        "I responded that letting go is a good thing."
    )
    assert lines[-2:] == ["Best,", "Jeff"]
    assert email.previous_context.startswith(
        "-----Original Message-----\nFrom: Mike Florio [mailto:mflorio@mail.turn.org]"
    )
    assert "Original Message" not in email.content
    assert email.from_address == "jeff.dasovich@enron.com"
    assert email.to == "bcherry@sempra.com"
    assert email.subject == (
        "FW: Dissent from Commissioners Bilas and Duque Opposing Suspension of DA"
    )


def test_short_reply_above_wrote_chain(shared_data: Path) -> None:
    email = cleaned(shared_data, "dasovich-j/sent_items/1025.")
    assert email.content == "10-ish percent."
    assert email.previous_context.startswith("-----Original Message-----")
    assert '"Dasovich, Jeff" wrote:' in email.previous_context


def test_forward_only_message_is_dropped(shared_data: Path) -> None:
    result = clean_file(shared_data, "bass-e/_sent_mail/550.")
    assert isinstance(result, Dropped)
    assert result.reason == "forward_only"


def test_forward_of_own_outlook_message_is_forward_only(shared_data: Path) -> None:
    result = clean_file(shared_data, "dasovich-j/sent_items/1238.")
    assert isinstance(result, Dropped) and result.reason == "forward_only"


def test_signature_is_kept_in_content(shared_data: Path) -> None:
    email = cleaned(shared_data, "perlingiere-d/sent/1000.")
    lines = email.content.split("\n")
    assert lines[0] == "Are you still going tonight ?"
    assert lines[2:5] == ["Debra Perlingiere", "Enron North America Corp.", "Legal Department"]
    assert lines[-1] == "Fax  713-646-3490"
    assert email.previous_context == ""


def test_lotus_notes_one_line_header_is_split(shared_data: Path) -> None:
    email = cleaned(shared_data, "bass-e/_sent_mail/1050.")
    assert email.content == (
        "dinner around 7ish will be fine - but we will come  out earlier to help out\n"
        "and have drinks"
    )
    assert email.previous_context.startswith(
        '"K. Bass" <daphneco64@bigplanet.com> on 01/18/2001 10:10:46 AM\n'
        'Please respond to "K. Bass" <daphneco64@bigplanet.com>\nTo: Eric.Bass@enron.com'
    )


def test_lotus_notes_two_line_header_is_split(shared_data: Path) -> None:
    email = cleaned(shared_data, "bass-e/_sent_mail/1072.")
    assert email.content == "why the hell were you invited?"
    assert email.previous_context.startswith(
        "Shanna Husser@ENRON\n05/30/2000 09:34 AM\nTo: Eric Bass/HOU/ECT@ECT\ncc:\nSubject:"
    )


def test_lotus_debris_above_the_header_goes_with_the_context(shared_data: Path) -> None:
    email = cleaned(shared_data, "germany-c/sent/1426.")
    assert email.content == (
        "I created deal 461123 (purchase from New Power) and deal 461134 (sale to New\n"
        "Power).  I will price both deals using the FOM index pricing."
    )
    assert email.previous_context.startswith("10/31/2000 09:51 AM\nJeffrey Porter@EES\n")
    letterhead = cleaned(shared_data, "scott-s/_sent_mail/137.")
    assert letterhead.content.endswith("We can definitely look into a mother/daughter trip.")
    assert letterhead.previous_context.startswith(
        '\tEnron Capital & Trade Resources Corp.  From:  "Emily Hillegeist"'
    )


def test_quoted_printable_body_is_decoded(shared_data: Path) -> None:
    email = cleaned(shared_data, "dasovich-j/sent_items/1004.")
    assert email.content.startswith(
        "FYI.\nThought folks might be interested in the following story.\nIn addition, I've "
        "attached at the end for those that are interested a CSFB report on PG&E's POR"
    )
    assert "=20" not in email.content and "Pe=\nrhaps" not in email.content
    assert "Perhaps, given were things stand" in email.content


def test_sample_has_no_unexpected_drops(shared_data: Path) -> None:
    reasons = set()
    for path in sorted((shared_data / "enron-sample" / "maildir").glob("*/*/*"))[::10]:
        result = clean_email(path.read_bytes())
        if isinstance(result, Dropped):
            reasons.add(result.reason)
    assert reasons <= {"forward_only"}


# --- synthetic edge cases ------------------------------------------------------------------

HEADERS = (
    b"Message-ID: <1.2@x>\r\nDate: Mon, 14 May 2001 10:02:00 -0700 (PDT)\r\n"
    b"From: jane.doe@enron.com\r\nTo: bob@x.com, Ann <ann@y.com>\r\nSubject: Hi\r\n"
)


def message(body: bytes, headers: bytes = HEADERS, extra: bytes = b"") -> bytes:
    return headers + extra + b"\r\n" + body


def test_crlf_trailing_spaces_and_blank_runs_are_normalized() -> None:
    result = clean_email(message(b"Hi Bob,   \r\n\r\n\r\n\r\n\r\nsee you.\r\n  indented\r\n"))
    assert isinstance(result, CleanedEmail)
    assert result.content == "Hi Bob,\n\nsee you.\n  indented"
    assert result.to == "bob@x.com, ann@y.com"
    assert result.date.isoformat() == "2001-05-14T10:02:00-07:00"


def test_normalize_whitespace_keeps_single_and_double_blank_lines() -> None:
    assert normalize_whitespace("a\n\nb\n\n\nc\n\n\n\n\nd \t\n") == "a\n\nb\n\n\nc\n\nd"


def test_missing_from_or_date_is_missing_header() -> None:
    no_date = b"From: a@b.com\nSubject: x\n\nbody\n"
    no_from = b"Date: Mon, 14 May 2001 10:02:00 -0700\nSubject: x\n\nbody\n"
    assert clean_email(no_date) == Dropped("missing_header", "no Date header")
    assert clean_email(no_from) == Dropped("missing_header", "no From address")


def test_bad_date_is_dropped() -> None:
    raw = b"From: a@b.com\nDate: the day after tomorrow\n\nbody\n"
    result = clean_email(raw)
    assert isinstance(result, Dropped) and result.reason == "bad_date"


def test_binary_file_is_unreadable() -> None:
    result = clean_email(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert isinstance(result, Dropped) and result.reason == "unreadable"


def test_undecodable_bytes_are_dropped() -> None:
    extra = b"Content-Type: text/plain; charset=utf-8\r\n"
    result = clean_email(message(b"caf\xc3 \xff\xfe broken\r\n", extra=extra))
    assert isinstance(result, Dropped) and result.reason == "undecodable"


def test_windows_1252_in_an_ascii_message_is_decoded() -> None:
    result = clean_email(message(b"It\x92s done \x96 thanks\r\n"))
    assert isinstance(result, CleanedEmail)
    assert result.content == "It\u2019s done \u2013 thanks"


@pytest.mark.parametrize(
    ("headers", "body", "content"),
    [
        pytest.param(
            b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"Caf=E9 at noon? This line is long and =\r\nwraps.=20\r\n",
            "Caf\u00e9 at noon? This line is long and wraps.",
            id="latin1-quoted-printable",
        ),
        pytest.param(
            b"Content-Type: text/html; charset=us-ascii\r\n",
            b"<html><p>Hi Bob &amp; Ann,</p>\r\n<p>done.</p></html>\r\n",
            "Hi Bob & Ann,\ndone.",
            id="html-only",
        ),
    ],
)
def test_encoded_body_becomes_plain_text(headers: bytes, body: bytes, content: str) -> None:
    result = clean_email(message(body, extra=headers))
    assert isinstance(result, CleanedEmail)
    assert result.content == content


def test_multipart_takes_the_plain_part_not_attachments() -> None:
    extra = b'Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="BB"\r\n'
    body = (
        b"--BB\r\nContent-Type: text/plain\r\n\r\nSee the attached.\r\n"
        b"--BB\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n"
        b"\r\nATTACHMENT TEXT\r\n--BB--\r\n"
    )
    result = clean_email(message(body, extra=extra))
    assert isinstance(result, CleanedEmail)
    assert result.content == "See the attached."


def test_empty_body_is_dropped() -> None:
    result = clean_email(message(b"\r\n   \r\n"))
    assert isinstance(result, Dropped) and result.reason == "empty_body"


@pytest.mark.parametrize(
    ("body", "content", "context_start"),
    [
        ("Sure.\n\nOn Mon, May 14, 2001, Bob wrote:\n> can you?", "Sure.", "On Mon"),
        ("Yes\n> quoted line\n> more", "Yes", "> quoted"),
        (
            "Done.\n\nFrom: Bob Smith\nSent: Monday, May 14, 2001 9:00 AM\nTo: Jane\nSubject: x",
            "Done.",
            "From: Bob Smith",
        ),
        (
            "ok\n\nBob Smith@ECT on 05/14/2001 10:02 AM\nTo: Jane Doe/HOU/ECT@ECT\ncc:\nSubject: y",
            "ok",
            "Bob Smith@ECT on 05/14/2001",
        ),
        (
            "fyi\n\n----- Forwarded by Jane Doe/HOU/ECT on 05/14/2001 10:02 AM -----\nbody",
            "fyi",
            "----- Forwarded by",
        ),
        ("I wrote: nothing here\nbye", "I wrote: nothing here\nbye", ""),
        (
            "Call me on 05/14/2001 10:00 AM please.\nThanks",
            "Call me on 05/14/2001 10:00 AM please.\nThanks",
            "",
        ),
        # a separator glued to the end of a line of text
        (
            "Can you send it over asap-----Original Message-----\nFrom: Bob\nSent: Monday",
            "Can you send it over asap",
            "-----Original Message-----\nFrom: Bob",
        ),
        (
            "Thanks.\nSee below ----- Original Message -----\nFrom: Bob",
            "Thanks.\nSee below",
            "----- Original Message -----",
        ),
        (
            "fyi---------------------- Forwarded by Jane Doe/HOU/ECT on 05/14/2001 10:02 AM ---\nx",
            "fyi",
            "---------------------- Forwarded by Jane Doe",
        ),
        (
            "The original message -- short -- was fine.",
            "The original message -- short -- was fine.",
            "",
        ),
    ],
)
def test_split_previous_context(body: str, content: str, context_start: str) -> None:
    got_content, previous = split_previous_context(body)
    assert got_content == content
    assert previous.startswith(context_start)
    assert bool(previous) == bool(context_start)


def test_decode_bytes_unknown_charset_falls_back_to_utf8() -> None:
    assert decode_bytes("é".encode(), "x-unknown-charset") == "é"


def test_owner_addresses_prefers_the_mailbox_surname_and_keeps_aliases() -> None:
    from collections import Counter

    senders = Counter(
        {
            "assistant.person@enron.com": 40,
            "eric.bass@enron.com": 30,
            "eric.bass@ect.enron.com": 3,
            "ericbass@enron.com": 1,
            "someone.else@enron.com": 2,
        }
    )
    assert owner_addresses(senders, "bass-e") == {
        "eric.bass@enron.com",
        "eric.bass@ect.enron.com",
        "ericbass@enron.com",
    }
    aliases = owner_addresses(
        Counter({"carol.clair@enron.com": 9, "carol.st.clair@enron.com": 2}), "stclair-c"
    )
    assert aliases == {"carol.clair@enron.com", "carol.st.clair@enron.com"}


def test_date_out_of_range_is_bad_date() -> None:
    raw = b"From: a@b.com\nDate: Mon, 1 Jan 10000 00:00:00 -1200\n\nbody\n"
    result = clean_email(raw)
    assert isinstance(result, Dropped) and result.reason == "bad_date"
