"""The annotation server behind real sockets: whom failed sign-ins are counted against, and
how long a half-sent request may hold a connection (issue 23, items 5 and 7).

Before, uvicorn believed `X-Forwarded-For` from 127.0.0.1, so a client rotating that header
was never throttled (and, behind a proxy, one client's guesses locked out everyone), and a
socket that never finished its headers stayed open for good (500 of them after 30 s).
Every socket here is on loopback, and there are at most a few dozen.
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from prefbench.human_eval import server as server_module
from prefbench.human_eval.bundle import Bundle
from prefbench.human_eval.export import export_bundle
from tests.human_fixtures import free_port, judged_run


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, Bundle]:
    run = judged_run(tmp_path / "run", {"naive_finetune": 2})
    return run, export_bundle(run, annotators=["alice", "bob"], seed=1, announce=lambda _: None)


@contextmanager
def serving(run: Path, **options: object) -> Iterator[int]:
    """`make_server(run, ...)` running in a thread on a free loopback port; the port."""
    port = free_port()
    server = server_module.make_server(run, port=port, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def sign_in(port: int, token: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = httpx.get(f"http://127.0.0.1:{port}/?token={token}", headers=headers, timeout=10)
    return response.status_code


def test_failed_sign_ins_count_against_the_socket_peer_not_a_forwarded_header(study) -> None:
    run, bundle = study
    with serving(run) as port:
        codes = [sign_in(port, f"guess-{n}", forwarded_for=f"10.0.0.{n}") for n in range(7)]
        assert codes[:5] == [403] * 5 and codes[5:] == [429, 429]  # the header changes nothing
        assert sign_in(port, bundle.manifest.annotators[0].token, "10.0.0.1") == 200


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own(study) -> None:
    run, bundle = study
    proxy = server_module.ProxySettings(("127.0.0.1",))
    with serving(run, proxy=proxy) as port:
        assert [sign_in(port, f"guess-{n}", f"10.0.0.{n}") for n in range(7)] == [403] * 7
        assert [sign_in(port, "guess", "10.9.9.9") for _ in range(6)][-1] == 429
        # the guessing client is throttled; an annotator behind the same proxy is not
        assert sign_in(port, bundle.manifest.annotators[1].token, "10.9.9.9") == 200
        assert sign_in(port, "guess", "10.0.0.1") == 403


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server has closed `connection` (read to its end)."""
    try:
        while connection.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_half_sent_requests_are_closed_and_connections_are_capped(study) -> None:
    run, bundle = study
    cap, seconds = 6, 1.0
    with serving(run, request_seconds=seconds, max_connections=cap) as port:
        sockets = []
        try:
            for _ in range(cap):  # slow loris: headers that never end
                slow = socket.create_connection(("127.0.0.1", port), timeout=10)
                slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
                sockets.append(slow)
            time.sleep(0.2)
            over = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
            sockets += over
            for connection in over:  # refused at once, with a reason
                answer = connection.recv(4096)
                assert answer.startswith(b"HTTP/1.1 503 ") and b"Too many" in answer
            started = time.monotonic()
            for connection in sockets[:cap]:
                assert connection.recv(4096) == b""  # closed unanswered once its time is up
            assert time.monotonic() - started < seconds + 5
            assert all(closed_by_server(connection) for connection in sockets)
        finally:
            for connection in sockets:
                connection.close()
        token = bundle.manifest.annotators[0].token
        assert sign_in(port, token) == 200  # the server still answers
