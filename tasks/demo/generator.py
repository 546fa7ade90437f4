"""A seeded generator of a small synthetic email corpus, in the record schema (docs/design.md §7).

No model is involved: each email is built from an intent kind (schedule a meeting, ask for a
review, ...) with slot values (day, time, project, document, ...), then rendered in its
persona's style (see `prefbench.tasks.demo.personas`). The same seed gives byte-identical records.
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from prefbench.tasks.demo.personas import PERSONAS, Persona, style_checks
from prefbench.tasks.records import Record

DATASET = "demo"
YEAR_START = date(2023, 1, 2)
"""Email dates are spread over the year that starts on this day."""
MAX_ATTEMPTS = 500
"""Draws per email before giving up on one that fits its persona's style (never reached)."""


@dataclass(frozen=True)
class Recipient:
    """Someone a persona writes to."""

    full_name: str
    address: str

    @property
    def first_name(self) -> str:
        """The name used in casual greetings."""
        return self.full_name.split()[0]


RECIPIENTS: tuple[Recipient, ...] = (
    Recipient("Samuel Ortiz", "samuel.ortiz@northwind.example"),
    Recipient("Priya Raman", "priya.raman@northwind.example"),
    Recipient("Jonas Becker", "jonas.becker@harborline.example"),
    Recipient("Mei Chen", "mei.chen@harborline.example"),
    Recipient("Lucia Ferreira", "lucia@ferreira-consulting.example"),
    Recipient("Tom Whitaker", "t.whitaker@cobaltworks.example"),
    Recipient("Nadia Haddad", "nadia.haddad@cobaltworks.example"),
)

SLOT_VALUES: dict[str, tuple[str, ...]] = {
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "time": ("9:30", "10:00", "11:15", "1:30", "2:00", "3:30", "4:15"),
    "project": ("Atlas", "Helios", "Juniper", "Northstar", "Orchard", "Beacon", "Quarry"),
    "document": (
        "the Q3 budget",
        "the vendor contract",
        "the launch plan",
        "the hiring brief",
        "the audit summary",
        "the roadmap draft",
        "the client proposal",
    ),
    "event": ("the offsite", "the team dinner", "the partner summit", "the product showcase"),
    "deadline": ("March 14", "April 3", "May 22", "June 9", "September 30", "November 17"),
    "colleague": ("Rafael", "Ingrid", "Kwame", "Sofia", "Declan"),
    "amount": ("$4,200", "$12,500", "$850", "$31,000"),
}


@dataclass(frozen=True)
class IntentKind:
    """One thing an email can be about, with sentences to say it formally and casually.

    Templates use the `SLOT_VALUES` names and ``{recipient}`` (the recipient's first name)
    and ``{sender}`` (the persona's first name) as slots.
    """

    key: str
    subjects: tuple[str, ...]
    main_formal: tuple[str, ...]
    main_casual: tuple[str, ...]
    details_formal: tuple[str, ...]
    details_casual: tuple[str, ...]
    previous: tuple[str, ...]
    """Short messages from the recipient that the email may reply to."""


INTENT_KINDS: tuple[IntentKind, ...] = (
    IntentKind(
        key="schedule_meeting",
        subjects=("Meeting about {project}", "Time to discuss {project} on {day}"),
        main_formal=(
            "Would you be available on {day} at {time} to discuss the next phase of {project}?",
            "I would like to arrange a meeting on {day} at {time} to review where {project} "
            "stands.",
        ),
        main_casual=(
            "Can we grab some time on {day} at {time} to talk through {project}?",
            "Want to meet {day} at {time} to go over {project}?",
        ),
        details_formal=(
            "I expect the discussion to take no more than forty minutes.",
            "I will circulate a short agenda beforehand so that we can make good use of the time.",
            "If that slot does not suit you, I am happy to propose an alternative.",
        ),
        details_casual=(
            "Should only take half an hour or so.",
            "I can send a quick agenda the day before.",
            "If that time is bad just suggest another one.",
        ),
        previous=(
            "Hi {sender}, do you have time this week to talk about {project}?",
            "{sender}, we should sync on {project} soon, when are you free?",
        ),
    ),
    IntentKind(
        key="review_report",
        subjects=("Review of {document}", "Could you look at {document}?"),
        main_formal=(
            "Could you please review {document} before we share it with the wider team?",
            "I would be grateful if you could read through {document} and send me your comments.",
        ),
        main_casual=(
            "Could you take a look at {document} when you get a chance?",
            "Mind reading through {document} and leaving some comments?",
        ),
        details_formal=(
            "Your comments on the figures in particular would be very helpful.",
            "I would appreciate your feedback by {day} if at all possible.",
            "The latest version is in the shared folder for {project}.",
        ),
        details_casual=(
            "Mostly want a second pair of eyes on the numbers.",
            "Would be great to have your notes by {day}.",
            "It is in the {project} folder.",
        ),
        previous=(
            "Hi {sender}, is {document} ready for someone to look at?",
            "{sender}, happy to review {document} if you need a reader.",
        ),
    ),
    IntentKind(
        key="confirm_deadline",
        subjects=("Deadline for {project}", "Confirming the {deadline} deadline"),
        main_formal=(
            "I am writing to confirm that the deadline for {project} remains {deadline}.",
            "I can confirm that we will deliver {document} for {project} by {deadline}.",
        ),
        main_casual=(
            "Just confirming the {project} deadline is still {deadline}.",
            "We are on track to get {document} done by {deadline}.",
        ),
        details_formal=(
            "The remaining tasks have been assigned and are progressing as planned.",
            "Should anything put this date at risk, I shall let you know immediately.",
            "We will hold a final check on {day} before submission.",
        ),
        details_casual=(
            "Everything left is assigned and moving.",
            "I will shout if anything slips.",
            "We will do a last check on {day}.",
        ),
        previous=(
            "Hi {sender}, is {deadline} still realistic for {project}?",
            "{sender}, can you confirm the date for {document}?",
        ),
    ),
    IntentKind(
        key="decline_invitation",
        subjects=("Your invitation to {event}", "Unable to attend {event}"),
        main_formal=(
            "Thank you for the kind invitation to {event}, but I am unable to attend.",
            "I regret that I will not be able to join {event} on {day}.",
        ),
        main_casual=(
            "Thanks for the invite to {event} but I can't make it.",
            "Sadly I have to skip {event} on {day}.",
        ),
        details_formal=(
            "I have a prior commitment to the {project} team that day.",
            "I would very much welcome the chance to hear how it went afterwards.",
            "{colleague} may be able to attend in my place.",
        ),
        details_casual=(
            "I already promised that day to the {project} crew.",
            "Would love to hear how it goes though.",
            "Maybe {colleague} can go instead.",
        ),
        previous=(
            "Hi {sender}, we would love to see you at {event} on {day}.",
            "{sender}, are you coming to {event}?",
        ),
    ),
    IntentKind(
        key="share_update",
        subjects=("Update on {project}", "{project}: where we are"),
        main_formal=(
            "I wanted to give you a brief update on the progress of {project}.",
            "Please find below a short summary of where {project} stands this week.",
        ),
        main_casual=(
            "Quick update on {project} for you.",
            "Here is where {project} is at this week.",
        ),
        details_formal=(
            "The first milestone was completed on {day}, slightly ahead of schedule.",
            "We have now finished {document} and shared it with the client.",
            "The main open question concerns the budget of {amount} for the next phase.",
        ),
        details_casual=(
            "We hit the first milestone on {day}, a bit early.",
            "{document} is done and out to the client.",
            "Main open question is the {amount} budget for the next bit.",
        ),
        previous=(
            "Hi {sender}, how is {project} coming along?",
            "{sender}, any news on {project} this week?",
        ),
    ),
    IntentKind(
        key="request_approval",
        subjects=("Approval needed: {document}", "Sign-off on {amount} for {project}"),
        main_formal=(
            "I would like to request your approval of {amount} for the next stage of {project}.",
            "Could you please approve {document} so that we can proceed with {project}?",
        ),
        main_casual=(
            "Can you sign off on {amount} for the next stage of {project}?",
            "Need your approval on {document} so we can keep {project} moving.",
        ),
        details_formal=(
            "The breakdown of costs is attached for your reference.",
            "A decision by {day} would allow us to keep to the current timeline.",
            "{colleague} has already reviewed the figures and agrees with them.",
        ),
        details_casual=(
            "Cost breakdown is attached.",
            "If we get a yes by {day} we stay on schedule.",
            "{colleague} already checked the numbers.",
        ),
        previous=(
            "Hi {sender}, send me what you need approved for {project}.",
            "{sender}, is the {project} request ready for me?",
        ),
    ),
    IntentKind(
        key="reschedule_meeting",
        subjects=("Moving our {day} meeting", "New time for the {project} meeting"),
        main_formal=(
            "Unfortunately I need to move our meeting on {project} to {day} at {time}.",
            "Would it be possible to postpone our {project} discussion to {day} at {time}?",
        ),
        main_casual=(
            "Any chance we can move our {project} chat to {day} at {time}?",
            "I need to push our {project} meeting to {day} at {time}, sorry.",
        ),
        details_formal=(
            "I apologise for the inconvenience this may cause.",
            "A conflict with {event} has only just come to my attention.",
            "The agenda and the invitation list remain unchanged.",
        ),
        details_casual=(
            "Sorry for the shuffle.",
            "Something came up with {event}.",
            "Same agenda, same people.",
        ),
        previous=(
            "Hi {sender}, still good for our {project} meeting?",
            "{sender}, looking forward to the {project} meeting.",
        ),
    ),
    IntentKind(
        key="thank_colleague",
        subjects=("Thank you for your help on {project}", "Thanks for {document}"),
        main_formal=(
            "I wanted to thank you for your help with {document} last week.",
            "Thank you very much for the work you put into {project}.",
        ),
        main_casual=(
            "Thanks so much for your help on {document}.",
            "Big thanks for everything you did on {project}.",
        ),
        details_formal=(
            "Your analysis made a real difference to the final result.",
            "The client was particularly pleased with the section you wrote.",
            "I have mentioned your contribution to {colleague} as well.",
        ),
        details_casual=(
            "Your analysis really made the difference.",
            "The client loved your section.",
            "I told {colleague} about it too.",
        ),
        previous=(
            "Hi {sender}, glad I could help with {project}.",
            "{sender}, I sent over my part of {document}.",
        ),
    ),
    IntentKind(
        key="request_information",
        subjects=("Question about {project}", "Figures for {document}"),
        main_formal=(
            "Could you please send me the latest figures for {project}?",
            "I would be grateful for the current status of {document}.",
        ),
        main_casual=(
            "Could you send me the latest numbers for {project}?",
            "Do you know where {document} ended up?",
        ),
        details_formal=(
            "I need them to finish {document} by {deadline}.",
            "A rough estimate would be perfectly sufficient for now.",
            "{colleague} suggested that you would have the most recent version.",
        ),
        details_casual=(
            "Need them to finish {document} by {deadline}.",
            "A rough guess is totally fine for now.",
            "{colleague} said you would have the newest version.",
        ),
        previous=(
            "Hi {sender}, let me know if you need anything for {project}.",
            "{sender}, I have the {project} numbers if you want them.",
        ),
    ),
    IntentKind(
        key="introduce_colleague",
        subjects=("Introducing {colleague}", "{colleague} joins {project}"),
        main_formal=(
            "I would like to introduce {colleague}, who is joining the {project} team.",
            "Allow me to introduce {colleague}, who will be taking over {document}.",
        ),
        main_casual=(
            "Meet {colleague}, who is joining us on {project}.",
            "Want to introduce you to {colleague}, who is picking up {document}.",
        ),
        details_formal=(
            "{colleague} has considerable experience with projects of this kind.",
            "Perhaps the two of you could meet on {day} to coordinate.",
            "I have shared the relevant documents with {colleague} already.",
        ),
        details_casual=(
            "{colleague} has done a lot of this kind of work.",
            "Maybe you two can meet on {day}.",
            "I already shared the docs with {colleague}.",
        ),
        previous=(
            "Hi {sender}, who should I talk to about {project} now?",
            "{sender}, do we have someone new for {document}?",
        ),
    ),
)
"""The intent kinds emails are drawn from, in a fixed order."""

OPENING_PET_PHRASES = frozenset(
    {"I trust this message finds you well", "Just circling back on this"}
)
"""Pet phrases that open an email's body; the others close it."""

_JOINABLE_FIRST_WORDS = frozenset(
    "a all allow an any big can could cost do everything if it maybe mind mostly need please "
    "perhaps quick same should something sorry sadly thank thanks the unfortunately want we "
    "would your".split()
)


def generate_demo_records(
    personas: int = 3,
    records_per_persona: int = 10,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> list[Record]:
    """Generate a synthetic email corpus, `records_per_persona` emails for each persona.

    Takes the first `personas` of `PERSONAS` in their fixed order. Each persona's emails
    come from their own random stream, derived from `seed` and the persona key, so the same
    arguments always give byte-identical records, and adding personas leaves the others'
    emails unchanged. Per persona, `round(records_per_persona * test_fraction)` emails (at
    least 1 and at most `records_per_persona - 1`) are drawn into the test split, the rest
    are train. Raises `ValueError` naming the bad argument and the allowed range.
    """
    if isinstance(personas, bool) or not isinstance(personas, int):
        raise ValueError(f"personas must be an integer, got {personas!r}")
    if not 1 <= personas <= len(PERSONAS):
        raise ValueError(f"personas must be between 1 and {len(PERSONAS)}, got {personas}")
    if isinstance(records_per_persona, bool) or not isinstance(records_per_persona, int):
        raise ValueError(f"records_per_persona must be an integer, got {records_per_persona!r}")
    if records_per_persona < 2:
        raise ValueError(
            f"records_per_persona must be at least 2 (one train, one test), "
            f"got {records_per_persona}"
        )
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")

    records: list[Record] = []
    for persona in PERSONAS[:personas]:
        records += _persona_records(persona, records_per_persona, seed, test_fraction)
    return records


def _persona_records(persona: Persona, count: int, seed: int, test_fraction: float) -> list[Record]:
    """All of one persona's emails, in order of `n` (and of date)."""
    rng = random.Random(f"prefbench-demo:{seed}:{persona.key}")
    test_count = min(max(1, round(count * test_fraction)), count - 1)
    test_indices = set(rng.sample(range(count), test_count))
    reply_indices = set(rng.sample(range(count), round(count / 3)))
    dates = sorted(_draw_datetime(rng) for _ in range(count))
    records = []
    for n in range(count):
        recipient = rng.choice(RECIPIENTS)
        others = [candidate for candidate in RECIPIENTS if candidate != recipient]
        cc = rng.choice(others).address if rng.random() < 0.4 else ""
        intent = rng.choice(INTENT_KINDS)
        slots = {name: rng.choice(values) for name, values in SLOT_VALUES.items()}
        slots["recipient"] = recipient.first_name
        slots["sender"] = persona.full_name.split()[0]
        is_reply = n in reply_indices
        previous_context = ""
        if is_reply:
            message = rng.choice(intent.previous).format(**slots)
            previous_context = f"{message}\n\n{recipient.first_name}"
        subject = rng.choice(intent.subjects).format(**slots)
        if is_reply:
            subject = f"Re: {subject}"
        if persona.capitalization == "lower":
            subject = subject.lower()
        records.append(
            Record(
                id=f"{DATASET}-{persona.key}-{n:03d}",
                dataset=DATASET,
                user=persona.key,
                split="test" if n in test_indices else "train",
                metadata={
                    "from": persona.address,
                    "to": recipient.address,
                    "cc": cc,
                    "subject": subject,
                    "date": dates[n].isoformat(),
                },
                previous_context=previous_context,
                content=_write_email(rng, persona, intent, slots, recipient),
                source=f"demo-generator:seed={seed}:persona={persona.key}:n={n}",
            )
        )
    return records


def _draw_datetime(rng: random.Random) -> datetime:
    """A working-hours moment somewhere in the year from `YEAR_START`."""
    day = YEAR_START + timedelta(days=rng.randrange(365))
    return datetime.combine(day, time(rng.randrange(8, 19), rng.randrange(60)))


def _write_email(
    rng: random.Random,
    persona: Persona,
    intent: IntentKind,
    slots: dict[str, str],
    recipient: Recipient,
) -> str:
    """Greeting, 2-4 sentences on the intent with a pet phrase, and sign-off, in style."""
    for _ in range(MAX_ATTEMPTS):
        sentences = _draw_sentences(rng, persona, intent, slots)
        body = _render_body(rng, persona, sentences)
        greeting = persona.greeting.format(first=recipient.first_name, full=recipient.full_name)
        if persona.capitalization == "lower":
            greeting = greeting.lower()
        email = f"{greeting}\n\n{body}\n\n{persona.sign_off}"
        if all(style_checks(persona, email).values()):
            return email
    raise RuntimeError(  # pragma: no cover - the sentence banks make this unreachable
        f"no {intent.key} email in {persona.key}'s style after {MAX_ATTEMPTS} draws"
    )


def _draw_sentences(
    rng: random.Random, persona: Persona, intent: IntentKind, slots: dict[str, str]
) -> list[str]:
    """The main sentence, 1-3 details and a pet phrase, each in sentence case with its stop."""
    if persona.formality == "formal":
        mains, details = intent.main_formal, intent.details_formal
    elif persona.formality == "casual":
        mains, details = intent.main_casual, intent.details_casual
    else:
        mains = intent.main_formal + intent.main_casual
        details = intent.details_formal + intent.details_casual
    chosen = [rng.choice(mains)] + rng.sample(details, rng.randint(1, 3))
    sentences = [template.format(**slots) for template in chosen]
    pet_phrase = rng.choice(persona.pet_phrases)
    if pet_phrase in OPENING_PET_PHRASES:
        sentences.insert(0, pet_phrase + ".")
    else:
        sentences.append(pet_phrase + ".")
    return sentences


def _render_body(rng: random.Random, persona: Persona, sentences: list[str]) -> str:
    """Apply the persona's punctuation habit and capitalization rule to the sentences."""
    separator = " "
    if persona.punctuation == "semicolons":
        sentences = _join_with_semicolon(rng, sentences)
    elif persona.punctuation == "exclamations":
        sentences = [s[:-1] + ("?!" if s.endswith("?") else "!") for s in sentences]
    elif persona.punctuation == "ellipses":
        sentences = [s[:-1] + "..." for s in sentences]
    elif persona.punctuation == "no_final_periods":
        sentences = [s.replace(".", "") for s in sentences]
        separator = "\n"
    body = separator.join(sentences)

    if persona.capitalization == "lower":
        body = body.lower()
    elif persona.capitalization == "upper_shouting_words":
        words = body.split(" ")
        plain = [i for i, word in enumerate(words) if word.isalpha() and word.islower()]
        plain = [i for i in plain if len(words[i]) >= 4]
        for i in rng.sample(plain, min(len(plain), rng.randint(1, 2))):
            words[i] = words[i].upper()
        body = " ".join(words)
    return body


def _join_with_semicolon(rng: random.Random, sentences: list[str]) -> list[str]:
    """Join one statement to the sentence after it with a semicolon, where the grammar allows."""
    joinable = [
        i
        for i in range(len(sentences) - 1)
        if sentences[i].endswith(".")
        and sentences[i + 1].split()[0].lower() in _JOINABLE_FIRST_WORDS
        and not sentences[i + 1].startswith("I ")
    ]
    if not joinable:
        return sentences
    i = rng.choice(joinable)
    following = sentences[i + 1]
    joined = f"{sentences[i][:-1]}; {following[0].lower()}{following[1:]}"
    return sentences[:i] + [joined] + sentences[i + 2 :]
