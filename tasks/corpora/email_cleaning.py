"""Clean one raw Enron message: parse, decode, split the quoted chain from what was written.

`clean_email(raw_bytes)` returns a `CleanedEmail` or a `Dropped` with the reason (one of
`EMAIL_DROP_REASONS`). Everything here is a pure function of its input; the corpus-level
filters (is the sender the mailbox owner? is it a duplicate?) live in `prepare.py`.
"""

import html as html_module
import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

EMAIL_DROP_REASONS: tuple[str, ...] = (
    "unreadable",
    "missing_header",
    "bad_date",
    "undecodable",
    "empty_body",
    "forward_only",
)
"""Why `clean_email` may drop a message."""

_ASCII_ALIASES = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "646", "us"})

_SEPARATORS = [
    # -----Original Message----- / ----- Original Message ----- / ---- Original Appointment ----
    re.compile(r"^\s*>?\s*-{2,}\s*Original (Message|Appointment)\s*-{2,}", re.IGNORECASE),
    # ---------------------- Forwarded by Eric Bass/HOU/ECT on 03/14/2001 11:47 AM ----
    re.compile(r"^\s*-{2,}\s*Forwarded by\b", re.IGNORECASE),
    # ---------- Forwarded message ---------- / Begin forwarded message:
    re.compile(r"^\s*(-{2,}\s*Forwarded message|Begin forwarded message:)", re.IGNORECASE),
    # On Mon, 1 Jan 2001, Jane Doe wrote:  /  "Dasovich, Jeff" wrote:  /  --- Name <a@b> wrote:
    re.compile(r"^\s*(On\s.*|\".*\"|.*<[^<>\s]+@[^<>\s]+>|-+\s.*)\s+wrote:\s*$"),
]
# Lotus Notes: `"K. Bass" <k@x.com> on 01/18/2001 10:10:46 AM` or `Jane Doe@ECT on 05/14/2001`.
_LOTUS_HEADER = re.compile(
    r"^\s*\S.*\son\s+\d{1,2}/\d{1,2}/\d{2,4}(\s+\d{1,2}:\d{2}(:\d{2})?(\s*[AP]M)?)?",
    re.IGNORECASE,
)
# The same separators glued to the end of a line of text: `...asap-----Original Message-----`.
_GLUED_SEPARATOR = re.compile(
    r"-{2,}\s*(Original (Message|Appointment)\s*-{2,}|Forwarded by\b)", re.IGNORECASE
)
_HEADER_FOLLOWER = re.compile(r"^\s*(To|cc|Please respond to|Sent by|Subject):", re.IGNORECASE)
# Lotus Notes, name and date on two lines: `Shanna Husser@ENRON\n05/30/2000 09:34 AM\nTo: ...`.
_LOTUS_DATE_LINE = re.compile(
    r"^\s*\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?(\s*[AP]M)?(\s+[A-Z]{2,4})?\s*$",
    re.IGNORECASE,
)
_ENDS_WITH_DATETIME = re.compile(
    r"\s\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(:\d{2})?\s*[AP]M(\s+[A-Z]{2,4})?\s*$", re.IGNORECASE
)
_TO_LINE = re.compile(r"^\s*To:", re.IGNORECASE)
_CC_OR_SUBJECT = re.compile(r"^\s*(cc|Subject):", re.IGNORECASE)
_OUTLOOK_FROM = re.compile(r"^\s*From:\s*\S", re.IGNORECASE)
_OUTLOOK_FOLLOWER = re.compile(r"^\s*(Sent|Date|To):", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")
_HTML_TAG = re.compile(r"<[^>]+>")
_BLANK_RUN = re.compile(r"\n{4,}")


@dataclass(frozen=True)
class CleanedEmail:
    """What one message says once decoded, with the quoted chain split off."""

    from_address: str
    """The sender's address, lower-cased (``"eric.bass@enron.com"``)."""
    from_name: str
    """The display name in From, or the X-From header, or empty."""
    to: str
    cc: str
    subject: str
    date: datetime
    """Timezone-aware send date."""
    previous_context: str
    """The quoted reply chain or forwarded block, from its separator line on; may be empty."""
    content: str
    """What the sender wrote above the chain, sign-off and signature kept."""
    x_from: str = ""
    """The CMU corpus's X-From header (the sender as the mail client named them), or empty."""
    x_origin: str = ""
    """The CMU corpus's X-Origin header (the mailbox the file was exported from), or empty."""
    x_folder: str = ""
    """The CMU corpus's X-Folder header (``\\Eric_Bass_Jun2001\\Notes Folders\\'sent mail``)."""


@dataclass(frozen=True)
class Dropped:
    """A message that cannot become a record: `reason` is in `EMAIL_DROP_REASONS`."""

    reason: str
    detail: str


def clean_email(raw: bytes) -> CleanedEmail | Dropped:
    """Parse and clean one raw RFC-822 message (CMU Enron layout).

    Dropped as ``unreadable`` when the bytes are binary (NUL bytes, not an email),
    ``missing_header`` without a From address or a Date, ``bad_date`` when Date does not
    parse, ``undecodable`` when the text part decodes neither in its declared charset nor as
    UTF-8 (nor as Windows-1252 when ASCII is declared), ``empty_body`` when nothing is left,
    and ``forward_only`` when all the text is a forwarded or quoted block.
    """
    if b"\x00" in raw[:65536] or not raw.strip():
        return Dropped("unreadable", "binary or empty file (not an RFC-822 message)")
    try:
        message = message_from_bytes(raw, policy=policy.default)
        raw_headers = _raw_headers(message)
        headers = {name: raw_headers.get(name, "") for name in ("from", "to", "cc", "subject")}
        date_text = raw_headers.get("date", "")
        x_from = raw_headers.get("x-from", "")
        x_origin = raw_headers.get("x-origin", "")
        x_folder = raw_headers.get("x-folder", "")
    except Exception as error:  # the email package raises many kinds on broken input
        return Dropped("unreadable", f"cannot parse the message ({error})")
    from_name, from_address = parseaddr(headers["from"])
    if "@" not in from_address:
        return Dropped("missing_header", "no From address")
    if not date_text:
        return Dropped("missing_header", "no Date header")
    try:
        date = parsedate_to_datetime(date_text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return Dropped("bad_date", f"Date header {date_text!r} does not parse")
    if date.tzinfo is None:
        return Dropped("bad_date", f"Date header {date_text!r} has no timezone")
    try:
        date.timestamp()
    except (OverflowError, ValueError, OSError):
        return Dropped("bad_date", f"Date header {date_text!r} is out of range")
    try:
        body = message_text(message)
    except UnicodeDecodeError as error:
        return Dropped("undecodable", str(error))
    except Exception as error:  # a broken MIME structure
        return Dropped("unreadable", f"cannot read the message body ({error})")
    content, previous_context = split_previous_context(normalize_whitespace(body))
    if not content:
        if previous_context:
            return Dropped("forward_only", "nothing written above the forwarded/quoted text")
        return Dropped("empty_body", "the message body is empty")
    return CleanedEmail(
        from_address=from_address.strip().lower(),
        from_name=from_name.strip() or _x_from_name(x_from),
        to=_address_list(headers["to"]),
        cc=_address_list(headers["cc"]),
        subject=headers["subject"].strip(),
        date=date,
        previous_context=previous_context,
        content=content,
        x_from=x_from.strip(),
        x_origin=x_origin.strip(),
        x_folder=x_folder.strip(),
    )


def message_text(message: Message) -> str:
    """The readable text of a message: its inline text/plain parts, else its HTML as text.

    Transfer encodings (quoted-printable, base64) are undone and the charset applied; raises
    `UnicodeDecodeError` when a part decodes in no charset tried.
    """
    plain: list[str] = []
    html: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "inline").lower()
        kind = part.get_content_type()
        if disposition == "attachment" or kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = decode_bytes(payload, part.get_content_charset())
        (plain if kind == "text/plain" else html).append(text)
    if plain:
        return "\n".join(plain)
    return "\n".join(html_module.unescape(_HTML_TAG.sub("", text)) for text in html)


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Decode a body in its declared charset, falling back to UTF-8 (and Windows-1252 for ASCII).

    Raises `UnicodeDecodeError` when none of them decodes every byte.
    """
    declared = (charset or "us-ascii").strip().lower()
    candidates = ["ascii" if declared in _ASCII_ALIASES else declared, "utf-8"]
    if declared in _ASCII_ALIASES or declared.startswith(("iso-8859", "latin")):
        candidates.append("cp1252")
    first_error: UnicodeDecodeError | None = None
    for name in candidates:
        try:
            return payload.decode(name)
        except LookupError:
            continue
        except UnicodeDecodeError as error:
            first_error = first_error or error
    assert first_error is not None  # "utf-8" is always tried, and always known
    raise first_error


def normalize_whitespace(text: str) -> str:
    """Normalize line ends to LF, strip trailing spaces, collapse 3+ blank lines into one.

    Leading and trailing blank lines are removed; indentation and single blank lines stay.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = _BLANK_RUN.sub("\n\n", text)
    return text.strip("\n")


def split_previous_context(body: str) -> tuple[str, str]:
    """Split a normalized body into (content, previous_context) at the first chain separator.

    Separators: ``-----Original Message-----``, ``----- Forwarded by``, ``On ... wrote:``
    lines, ``>``-quoted lines, Lotus Notes header blocks (``Name on 05/14/2001 10:02 AM``
    followed by ``To:``/``cc:``) and Outlook blocks (``From: ...`` followed by ``Sent:`` or
    ``To:``). A ``-----Original Message-----`` or ``----- Forwarded by`` glued to the end
    of a line of text (``...asap-----Original Message-----``) is split off that line first.
    Lotus debris just above the separator (tab-indented letterhead, a bare date line, a copy
    of the sender line) goes with the previous context. The content is stripped of
    surrounding blank lines; previous_context starts at the separator line.
    """
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if _is_separator(lines, index, line):
            start = _header_debris_start(lines, index)
            content = "\n".join(lines[:start]).strip("\n")
            previous = "\n".join(lines[start:]).strip("\n")
            return _strip_left_blank(content), previous
        glued = _glued_separator_start(line)
        if glued is not None:
            content = "\n".join([*lines[:index], line[:glued].rstrip()]).strip("\n")
            previous = "\n".join([line[glued:], *lines[index + 1 :]]).strip("\n")
            return _strip_left_blank(content), previous
    return _strip_left_blank(body.strip("\n")), ""


def _glued_separator_start(line: str) -> int | None:
    """Where a separator glued after text on `line` starts (``asap-----Original...``), or None.

    Only after words: a quoted separator (``> > ----- Original Message -----``) is no glue.
    """
    glued = _GLUED_SEPARATOR.search(line)
    if glued is None or not re.search(r"\w", line[: glued.start()]):
        return None
    return glued.start()


def _header_debris_start(lines: list[str], separator: int) -> int:
    """Move the start back over Lotus Notes debris just above a separator.

    Lotus exports scatter the quoted header above it: tab-indented letterhead lines
    (a tab, then ``Enron North America Corp.``), a line ending in a date and time, or
    copies of the sender line.
    """
    header_lines = {line.strip() for line in lines[separator : separator + 6] if line.strip()}
    start = separator
    index = separator - 1
    while index >= 0:
        line = lines[index]
        if not line.strip():
            index -= 1
            continue
        if (
            line.startswith("\t")
            or _LOTUS_DATE_LINE.match(line)
            or _ENDS_WITH_DATETIME.search(line)
            or line.strip() in header_lines
        ):
            start = index
            index -= 1
            continue
        break
    return start


def _is_separator(lines: list[str], index: int, line: str) -> bool:
    if not line.strip():
        return False
    if any(pattern.match(line) for pattern in _SEPARATORS) or _QUOTED.match(line):
        return True
    following = [text for text in lines[index + 1 : index + 5] if text.strip()][:3]
    if _LOTUS_DATE_LINE.match(line) or (
        len(line) <= 80 and index + 1 < len(lines) and _LOTUS_DATE_LINE.match(lines[index + 1])
    ):
        return any(_HEADER_FOLLOWER.match(text) for text in following)
    if _TO_LINE.match(line):
        return any(_CC_OR_SUBJECT.match(text) for text in lines[index + 1 : index + 12])
    if _OUTLOOK_FROM.match(line):
        return any(
            _OUTLOOK_FOLLOWER.match(text)
            or _HEADER_FOLLOWER.match(text)
            or _LOTUS_DATE_LINE.match(text)
            for text in following
        )
    if _LOTUS_HEADER.match(line):
        return any(_HEADER_FOLLOWER.match(text) for text in following)
    return False


def _strip_left_blank(text: str) -> str:
    return text if text.strip() else ""


def _raw_headers(message: Message) -> dict[str, str]:
    """The first value of each header, lower-cased name, unfolded, RFC 2047 words decoded.

    Read from the raw header lines: building policy.default's header objects for every
    header costs more than the rest of the cleaning together.
    """
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key in headers:
            continue
        text = " ".join(str(value).split())
        if "=?" in text:
            try:
                text = str(make_header(decode_header(text)))
            except (UnicodeDecodeError, LookupError, HeaderParseError):
                pass
        headers[key] = text
    return headers


def _address_list(value: str) -> str:
    addresses = [address.lower() for _, address in getaddresses([value]) if address]
    return ", ".join(addresses)


def _x_from_name(x_from: str) -> str:
    return re.sub(r"\s*<[^>]*>\s*$", "", x_from).strip()
