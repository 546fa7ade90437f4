"""What keeps strangers out of the annotation server (human_eval/server.py, web_guard.py)."""

import socket
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from prefbench.core.errors import PrefbenchInputError
from prefbench.human_eval.bundle import Bundle, item_order_for
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.server import create_app, make_server, serve
from prefbench.human_eval.store import AnnotationStore
from prefbench.human_eval.web_guard import (
    SESSIONS_PER_ANNOTATOR,
    SessionStore,
    SignInThrottle,
    allowed_hosts_for,
    host_name,
)
from tests.human_fixtures import judged_run


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, Bundle]:
    run = judged_run(tmp_path / "run", {"naive_finetune": 3})
    return run, export_bundle(run, annotators=["alice", "bob"], seed=1)


def token_of(bundle: Bundle, name: str) -> str:
    return next(a.token for a in bundle.manifest.annotators if a.name == name)


def stored(run: Path) -> int:
    with AnnotationStore(HumanFolder(run).database) as store:
        return store.count()


def session_cookie(response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


def answer_first(client: TestClient, bundle: Bundle, name: str = "alice", **headers: str):
    first = item_order_for(bundle, name)[0]
    return client.post(
        "/item/1", data={"item_id": first, "choice": "1"}, headers=headers, follow_redirects=False
    )


def test_a_name_alone_signs_nobody_in(study):
    run, bundle = study
    client = TestClient(create_app(run))
    assert client.post("/signin", data={"name": "alice"}).status_code == 422
    response = client.post("/signin", data={"name": "alice", "token": token_of(bundle, "bob")})
    assert response.status_code == 403 and "set-cookie" not in response.headers
    response = client.post("/signin", data={"name": "alice", "token": token_of(bundle, "alice")})
    assert response.status_code == 200 and "set-cookie" in response.headers


def test_each_sign_in_gets_a_new_random_session_never_the_invite_token(study):
    run, bundle = study
    app = create_app(run)
    token = token_of(bundle, "alice")
    cookies = [
        session_cookie(TestClient(app).get(f"/?token={token}"))["prefbench_annotator"].value
        for _ in range(2)
    ]
    assert token not in cookies and cookies[0] != cookies[1]
    assert all(len(value) >= 40 for value in cookies)
    # the invite token as a cookie is not a session
    forged = TestClient(app, cookies={"prefbench_annotator": token})
    assert answer_first(forged, bundle).status_code == 403 and stored(run) == 0


def test_cookie_flags(study):
    run, bundle = study
    response = TestClient(create_app(run)).get(f"/?token={token_of(bundle, 'alice')}")
    morsel = session_cookie(response)["prefbench_annotator"]
    assert morsel["httponly"] and morsel["samesite"] == "strict" and morsel["path"] == "/"
    assert int(morsel["max-age"]) > 0 and not morsel["secure"]
    behind_tls = TestClient(create_app(run, behind_tls=True), base_url="https://testserver")
    morsel = session_cookie(behind_tls.get(f"/?token={token_of(bundle, 'alice')}"))[
        "prefbench_annotator"
    ]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "strict"


def test_sign_out_revokes_the_session_on_the_server(study):
    run, bundle = study
    app = create_app(run)
    client = TestClient(app)
    client.get(f"/?token={token_of(bundle, 'alice')}")
    stolen = client.cookies["prefbench_annotator"]
    client.post("/signout")
    replay = TestClient(app, cookies={"prefbench_annotator": stolen})
    assert answer_first(replay, bundle).status_code == 403
    assert replay.get("/item/1", follow_redirects=False).headers["location"] == "/"
    assert stored(run) == 0


def test_sessions_expire():
    now = [0.0]
    sessions = SessionStore(lifetime_seconds=60, clock=lambda: now[0])
    session = sessions.open("alice")
    assert sessions.annotator_of(session) == "alice"
    now[0] = 59.9
    assert sessions.annotator_of(session) == "alice"
    now[0] = 60.0
    assert sessions.annotator_of(session) is None and len(sessions) == 0


def test_an_annotator_holds_a_bounded_number_of_sessions():
    sessions = SessionStore()
    opened = [sessions.open("alice") for _ in range(SESSIONS_PER_ANNOTATOR + 3)]
    bob = sessions.open("bob")
    assert len(sessions) == SESSIONS_PER_ANNOTATOR + 1
    assert [sessions.annotator_of(s) for s in opened[:3]] == [None] * 3
    assert sessions.annotator_of(opened[-1]) == "alice" and sessions.annotator_of(bob) == "bob"


def test_the_throttle_forgets_old_failures():
    now = [0.0]
    throttle = SignInThrottle(attempts=2, window_seconds=10, clock=lambda: now[0])
    throttle.failed([f"client:{n}" for n in range(1000)])
    assert throttle.wait_seconds(["client:1"]) == 0
    throttle.failed(["client:1"])
    assert throttle.wait_seconds(["client:1"]) == 10
    now[0] = 10.0
    assert throttle.wait_seconds(["client:1"]) == 0
    throttle.failed(["client:2"])  # a later failure forgets the stale keys
    assert len(throttle) == 1


def test_an_expired_session_is_refused_by_the_app(study, monkeypatch):
    run, bundle = study
    now = [1000.0]
    monkeypatch.setattr("prefbench.human_eval.web_guard.time.monotonic", lambda: now[0])
    client = TestClient(create_app(run, session_seconds=30))
    client.get(f"/?token={token_of(bundle, 'alice')}")
    now[0] += 31
    assert answer_first(client, bundle).status_code == 403 and stored(run) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},  # another app on this machine: same-site
        {"origin": "null"},
        {"origin": "https://testserver"},  # wrong scheme
        {"sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "http://testserver", "sec-fetch-site": "cross-site"},
    ],
)
def test_cross_site_posts_are_refused(study, headers):
    run, bundle = study
    client = TestClient(create_app(run))
    client.get(f"/?token={token_of(bundle, 'alice')}")
    response = answer_first(client, bundle, **headers)
    assert response.status_code == 403 and stored(run) == 0
    signin = client.post(
        "/signin", data={"name": "bob", "token": token_of(bundle, "bob")}, headers=headers
    )
    assert signin.status_code == 403 and "set-cookie" not in signin.headers
    client.post("/signout", headers=headers)
    assert answer_first(client, bundle).status_code == 303  # not signed out


def test_same_origin_posts_go_through(study):
    run, bundle = study
    client = TestClient(create_app(run))
    client.get(f"/?token={token_of(bundle, 'alice')}")
    response = answer_first(
        client, bundle, origin="http://testserver", **{"sec-fetch-site": "same-origin"}
    )
    assert response.status_code == 303 and stored(run) == 1


@pytest.mark.parametrize(
    ("bind", "good", "bad"),
    [
        ("127.0.0.1", ["127.0.0.1:8765", "localhost:8765"], ["evil.example", "evil.example:8765"]),
        ("::1", ["[::1]:8765", "localhost"], ["evil.example:8765", "[::2]:8765", "["]),
        ("0.0.0.0", [f"{socket.gethostname()}:8765", "127.0.0.1:8765"], ["evil.example:8765"]),
        ("::", [f"{socket.gethostname()}:8765"], ["rebind.attacker.example"]),
    ],
)
def test_every_bind_address_checks_the_host_header(study, bind, good, bad):
    run, _ = study
    client = TestClient(make_server(run, host=bind, port=8765).config.app)
    for host in good:
        assert client.get("/", headers={"host": host}).status_code == 200, host
    for host in bad:
        assert client.get("/", headers={"host": host}).status_code == 400, host


def test_allowed_hosts_take_extra_names():
    allowed = allowed_hosts_for("0.0.0.0", ["annotate.lab.example", "[fd00::1]:443"])
    assert {"annotate.lab.example", "fd00::1", "::1", "localhost"} <= allowed
    assert host_name("[FD00::1]:443") == "fd00::1" and host_name("Example.org:80") == "example.org"


def test_large_bodies_get_413(study):
    run, bundle = study
    client = TestClient(create_app(run, body_limit=1024))
    client.get(f"/?token={token_of(bundle, 'alice')}")
    first = item_order_for(bundle, "alice")[0]
    big = {"item_id": first, "choice": "1", "padding": "x" * 2000}
    assert client.post("/item/1", data=big).status_code == 413

    def chunks():  # no Content-Length: the streamed size counts
        for _ in range(4):
            yield b"choice=1&item_id=" + first.encode() + b"&p=" + b"x" * 400

    response = client.post(
        "/item/1",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413 and stored(run) == 0
    assert answer_first(client, bundle).status_code == 303


def test_failed_sign_ins_are_throttled(study):
    run, bundle = study
    now = [0.0]
    throttle = SignInThrottle(attempts=3, window_seconds=60, clock=lambda: now[0])
    client = TestClient(create_app(run, throttle=throttle))
    for guess in range(3):
        response = client.get(f"/?token=guess-{guess}")
        assert response.status_code == 403
    wrong = {"name": "alice", "token": "guess"}
    for attempt in (lambda: client.post("/signin", data=wrong), lambda: client.get("/?token=x")):
        response = attempt()
        assert response.status_code == 429 and response.headers["retry-after"] == "60"
    # a valid token is never locked out (issue 23: one client's guesses locked out everyone
    # behind the same address)
    right = {"name": "alice", "token": token_of(bundle, "alice")}
    assert client.post("/signin", data=right).status_code == 200
    assert client.get(f"/?token={token_of(bundle, 'bob')}").status_code == 200
    now[0] = 61.0
    assert client.post("/signin", data=wrong).status_code == 403


def test_wrong_tokens_for_one_name_are_throttled_across_clients(study):
    run, bundle = study
    throttle = SignInThrottle(attempts=2, window_seconds=60)
    app = create_app(run, throttle=throttle)
    for _ in range(2):
        client = TestClient(app, client=(f"10.0.0.{_ + 1}", 5000))
        assert client.post("/signin", data={"name": "bob", "token": "no"}).status_code == 403
    fresh = TestClient(app, client=("10.0.0.9", 5000))
    assert fresh.post("/signin", data={"name": "bob", "token": "no"}).status_code == 429
    right = {"name": "bob", "token": token_of(bundle, "bob")}
    assert fresh.post("/signin", data=right).status_code == 200


def test_a_non_loopback_host_needs_allow_remote(study, monkeypatch):
    run, _ = study
    started = []
    monkeypatch.setattr("uvicorn.Server.run", lambda server: started.append(server.config.host))
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(PrefbenchInputError, match="--allow-remote"):
            serve(run, host=host, announce=lambda _: None)
    assert started == []
    lines: list[str] = []
    serve(run, host="::", port=8765, announce=lines.append, allow_remote=True)
    notice = next(line for line in lines if line.startswith("WARNING"))
    assert "reachable by anyone who can reach any address of this machine on port 8765" in notice
    assert "NOT encrypted" in notice
    lines.clear()
    serve(run, port=8765, announce=lines.append)
    assert any("only programs on this machine can reach it" in line for line in lines)
    assert not any("WARNING" in line for line in lines)


def test_cli_refuses_a_remote_host_without_the_flag(study, monkeypatch):
    from prefbench.harness.cli.app import main

    run, _ = study
    monkeypatch.setattr("uvicorn.Server.run", lambda server: None)
    monkeypatch.setattr(
        "sys.argv", ["prefbench", "human", "serve", "--run", str(run), "--host", "0.0.0.0"]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2


def test_cli_passes_tls_and_extra_hosts(study, monkeypatch):
    from prefbench.harness.cli.human import human_app

    run, _ = study
    apps = []
    monkeypatch.setattr("uvicorn.Server.run", lambda server: apps.append(server.config.app))
    arguments = ["serve", "--run", str(run), "--behind-tls", "--allowed-host", "ann.example"]
    result = CliRunner().invoke(human_app, arguments)
    assert result.exit_code == 0, result.output
    client = TestClient(apps[0], base_url="https://ann.example")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "other.example"}).status_code == 400
