"""What keeps strangers out of the annotation server (docs/human_eval.md, "Security").

- :class:`SessionStore`: a random session id per sign-in, held server-side with an expiry;
  signing out revokes it. The invite token never becomes the cookie.
- :class:`SignInThrottle`: failed sign-ins per client address (and per annotator name) in a
  sliding window; past the limit, sign-in answers 429 until the window has moved on.
- :class:`HostGuard`: an ASGI middleware that refuses a Host header not naming this server
  (against DNS rebinding), IPv6 literals included.
- :class:`BodyLimit`: an ASGI middleware that answers 413 to a request body over a limit.
- :func:`cross_site_refusal`: why a POST is refused by its ``Origin`` /
  ``Sec-Fetch-Site`` headers (against cross-site request forgery), or None.
- :func:`allowed_hosts_for`: the Host names a bind address is reachable by.
"""

import ipaddress
import math
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "DEFAULT_SESSION_SECONDS",
    "BodyLimit",
    "HostGuard",
    "SessionStore",
    "SignInThrottle",
    "allowed_hosts_for",
    "cross_site_refusal",
    "host_name",
    "is_loopback",
]

DEFAULT_SESSION_SECONDS = 12 * 3600
SESSIONS_PER_ANNOTATOR = 20
DEFAULT_BODY_LIMIT = 16 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class _Session:
    annotator: str
    expires: float


class SessionStore:
    """Sign-in sessions held in the server's memory: session id → annotator and expiry.

    A restart of the server ends every session (annotators open their invite link again).
    Thread-safe: the app's worker threads share one store.
    """

    def __init__(
        self,
        lifetime_seconds: float = DEFAULT_SESSION_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if lifetime_seconds <= 0:
            raise ValueError(f"lifetime_seconds must be positive, got {lifetime_seconds!r}")
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock or time.monotonic
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, annotator: str) -> str:
        """A new random session id for `annotator` (256 bits), valid for the lifetime.

        An annotator holds at most SESSIONS_PER_ANNOTATOR sessions: a new one ends the oldest.
        """
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            held = [
                key for key, session in self._sessions.items() if session.annotator == annotator
            ]
            for oldest in held[: max(0, len(held) - SESSIONS_PER_ANNOTATOR + 1)]:
                del self._sessions[oldest]
            self._sessions[session_id] = _Session(annotator, self._clock() + self.lifetime_seconds)
        return session_id

    def annotator_of(self, session_id: str | None) -> str | None:
        """The annotator of a live session; None for an unknown, expired or revoked id."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if session.expires <= self._clock():
                del self._sessions[session_id]
                return None
            return session.annotator

    def revoke(self, session_id: str | None) -> None:
        """End a session (sign-out); an unknown id is ignored."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._sessions)

    def _drop_expired(self) -> None:
        now = self._clock()
        for session_id in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[session_id]


class SignInThrottle:
    """At most `attempts` failed sign-ins per key (client address, name) per `window_seconds`."""

    def __init__(
        self,
        attempts: int = 5,
        window_seconds: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if attempts < 1 or window_seconds <= 0:
            raise ValueError(
                f"attempts must be at least 1 and window_seconds positive, got "
                f"{attempts!r} and {window_seconds!r}"
            )
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._clock = clock or time.monotonic
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, keys: Iterable[str]) -> int:
        """Seconds until any of `keys` may try again (0: it may try now)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.attempts:
                    wait = max(wait, failures[0] + self.window_seconds - now)
        return math.ceil(wait)

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed sign-in against each of `keys`."""
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def __len__(self) -> int:
        """How many keys have failures inside the window (the memory the throttle holds)."""
        with self._lock:
            now = self._clock()
            return sum(
                1
                for times in self._failures.values()
                if times and times[-1] > now - self.window_seconds
            )

    def _recent(self, key: str, now: float) -> deque[float]:
        """The key's failures inside the window; keys with none left are forgotten."""
        cutoff = now - self.window_seconds
        for stale in [k for k, times in self._failures.items() if not times or times[-1] <= cutoff]:
            del self._failures[stale]
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        return failures


def host_name(header: str) -> str:
    """The host of a Host header or URL netloc, lower-cased, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else ""
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def _machine_names() -> set[str]:
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for name in list(names):
        try:
            names.update(str(info[4][0]).lower() for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return names


def allowed_hosts_for(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header names a server bound to `host` answers to.

    Loopback names always; for a wildcard bind (``0.0.0.0``, ``::``) or another address,
    also this machine's host name, fully qualified name and their addresses. `extra` adds
    names (a DNS name or address annotators use, a reverse proxy's name).
    """
    allowed = set(LOOPBACK_NAMES) | {host_name(name) for name in extra}
    if host not in WILDCARD_HOSTS:
        allowed.add(host_name(host) if host.startswith("[") else host.lower())
    if not is_loopback(host):
        allowed |= _machine_names()
    return frozenset(name for name in allowed if name)


async def _plain(send: Send, status: int, text: str, headers: Mapping[str, str] = {}) -> None:
    body = text.encode("utf-8")
    raw = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw += [(key.encode(), value.encode()) for key, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class HostGuard:
    """ASGI middleware: 400 unless the Host header names one of `allowed`.

    `allowed` usually comes from :func:`allowed_hosts_for`.
    """

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(host_name(name) for name in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request whose Host is not allowed; pass the rest on."""
        if scope["type"] == "http" and host_name(_header(scope, b"host") or "") not in (
            self.allowed
        ):
            await _plain(send, 400, "Invalid host header: this server is not reachable so.")
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes` (declared or streamed).

    The body (small by then) is read before the app runs and handed to it whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to the limit, then run the app with it (or answer 413)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (
            not declared.strip().isdigit() or int(declared) > self.max_bytes
        ):
            await self._too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _plain(send, 413, f"Request body too large (the limit is {self.max_bytes} bytes).")


def cross_site_refusal(
    method: str, headers: Mapping[str, str], scheme: str, host: str
) -> str | None:
    """Why a state-changing request looks cross-site, or None when it may go on.

    A browser sends ``Sec-Fetch-Site`` and/or ``Origin`` with every POST: the first must be
    ``same-origin``, the second this server's own scheme and Host. A request with neither
    comes from a program, not from a page in a browser (so it cannot carry a victim's
    cookie by forgery) and may go on.
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return None
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return f"Sec-Fetch-Site is {fetch_site!r}: the form was not sent from this site."
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if origin == "null" or parts.scheme != scheme or parts.netloc.lower() != host.lower():
        return f"Origin {origin!r} is not this site ({scheme}://{host})."
    return None
