"""Bounds on the annotation server's connections: a request read timeout and a connection cap.

uvicorn reads a request's headers for as long as the client keeps the socket open, so a
"slow loris" (sockets that send a header line now and then, or nothing) holds a file
descriptor each for ever, and a few hundred exhaust a process's 1,024. The protocol class
made by :func:`guarded_h11_protocol` (uvicorn's h11 protocol with two additions) closes:

- a connection whose request (request line, headers and body) is not fully received
  `request_seconds` after its first byte, or after the connection opened;
- a connection beyond `max_connections` open at once, right away, with a 503 answer.

Idle keep-alive connections between requests keep uvicorn's own timeout (5 s).
"""

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REQUEST_SECONDS",
    "guarded_h11_protocol",
]

DEFAULT_REQUEST_SECONDS = 10.0
"""How long a client may take to send one whole request (a browser needs milliseconds)."""
DEFAULT_MAX_CONNECTIONS = 200
"""Connections open at once (a study has tens of annotators, each a few connections)."""

_READING = (h11.IDLE, h11.SEND_BODY)
"""The client's h11 states while its request is still being received."""
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 5\r\n"
    b"connection: close\r\n"
    b"content-length: 56\r\n\r\n"
    b"Too many open connections to this server: retry shortly."
)


def guarded_h11_protocol(
    request_seconds: float = DEFAULT_REQUEST_SECONDS,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> type[H11Protocol]:
    """The h11 protocol of uvicorn with a request read timeout and a connection cap.

    Pass the class as `uvicorn.Config(..., http=...)`.

    Raises:
        ValueError: A timeout that is not positive or a cap under 1.
    """
    if request_seconds <= 0 or max_connections < 1:
        raise ValueError(
            f"request_seconds must be positive and max_connections at least 1, got "
            f"{request_seconds!r} and {max_connections!r}"
        )

    class GuardedH11Protocol(H11Protocol):
        """h11 with a deadline for each request's bytes and a cap on open connections."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._request_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.write(_BUSY)
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._request_timer is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state not in _READING:
                self._disarm()  # the whole request is in

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._request_timer = self.loop.call_later(request_seconds, self._request_expired)

        def _disarm(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _request_expired(self) -> None:
            self._request_timer = None
            if self.conn.their_state in _READING:
                self.transport.close()  # the request is still not in: give the socket back

    return GuardedH11Protocol
