"""The annotation web app (human_eval/server.py) through FastAPI's TestClient, and `serve`."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

from prefbench.human_eval.bundle import Bundle, item_order_for
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.server import create_app, serve
from prefbench.human_eval.store import AnnotationStore
from tests.human_fixtures import free_port, judged_run

SCRIPT = '<script>alert("pwned")</script><b>bold</b> & more'
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, Bundle]:
    run = judged_run(
        tmp_path / "run", {"naive_finetune": 3, "small_zero_shot": 2}, candidate_b=SCRIPT
    )
    return run, export_bundle(run, annotators=["alice", "bob"], item_order="shuffled", seed=2)


def token_of(bundle: Bundle, name: str) -> str:
    return next(a.token for a in bundle.manifest.annotators if a.name == name)


def signed_in(run: Path, bundle: Bundle, name: str) -> TestClient:
    client = TestClient(create_app(run))
    response = client.get(f"/?token={token_of(bundle, name)}")
    assert response.status_code == 200 and 'href="/start"' in response.text
    return client


def test_unknown_tokens_and_names_are_forbidden(study):
    run, _ = study
    client = TestClient(create_app(run))
    response = client.get("/?token=not-a-token")
    assert response.status_code == 403 and "invite link is not valid" in response.text
    response = client.post("/signin", data={"name": "mallory", "token": "x"})
    assert response.status_code == 403 and "do not match" in response.text
    assert "prefbench_annotator" not in client.cookies
    # without a session: pages lead to sign-in, answers are refused
    response = client.get("/item/1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    forged = TestClient(create_app(run), cookies={"prefbench_annotator": "forged"})
    response = forged.post("/item/1", data={"item_id": "item-0001", "choice": "1"})
    assert response.status_code == 403
    with AnnotationStore(HumanFolder(run).database) as store:
        assert store.count() == 0


def test_sign_in_by_token_or_name_shows_instructions_then_resumes(study):
    run, bundle = study
    client = TestClient(create_app(run))
    response = client.post("/signin", data={"name": "bob", "token": token_of(bundle, "bob")})
    assert response.status_code == 200 and 'http-equiv="refresh"' in response.text
    response = client.get("/start")
    assert response.url.path == "/instructions"
    assert "Choose the candidate that is closer" in response.text
    order = item_order_for(bundle, "bob")
    for position in (1, 2):
        client.post(f"/item/{position}", data={"item_id": order[position - 1], "choice": "2"})
    again = signed_in(run, bundle, "bob")
    response = again.get("/", follow_redirects=True)
    assert response.url.path == "/item/3"
    assert "2 of 5 answered" in response.text


def test_candidate_html_is_shown_as_text(study):
    run, bundle = study
    client = signed_in(run, bundle, "alice")
    page = client.get("/item/1").text
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert (
        "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; more"
        in page
    )
    headers = client.get("/item/1").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_each_answer_post_appends_a_row_and_a_change_appends_another(study):
    run, bundle = study
    client = signed_in(run, bundle, "alice")
    order = item_order_for(bundle, "alice")
    response = client.post(
        "/item/1", data={"item_id": order[0], "choice": "1"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/item/2"
    client.post("/item/1", data={"item_id": order[0], "choice": "2"})
    last = client.post("/item/5", data={"item_id": order[4], "choice": "1"})
    assert last.url.path == "/missing"
    with AnnotationStore(HumanFolder(run).database) as store:
        history = store.history(annotator="alice")
        assert [(a.item_id, a.choice, a.source) for a in history] == [
            (order[0], 1, "app"),
            (order[0], 2, "app"),
            (order[4], 1, "app"),
        ]
        assert store.latest()[("alice", order[0])].choice == 2
    page = client.get("/item/1").text
    assert "Your answer: candidate 2" in page and "2 of 5 answered" in page
    missing = client.get("/missing").text
    for position in (2, 3, 4):
        assert f'href="/item/{position}"' in missing
    assert 'href="/item/1"' not in missing and 'href="/item/5"' not in missing


@pytest.mark.parametrize(
    ("position", "data", "status"),
    [
        (1, {"item_id": "FIRST", "choice": "3"}, 400),
        (1, {"item_id": "FIRST", "choice": "<script>"}, 400),
        (1, {"item_id": "item-9999", "choice": "1"}, 400),
        (2, {"item_id": "FIRST", "choice": "1"}, 400),
        (9, {"item_id": "FIRST", "choice": "1"}, 404),
        (1, {"item_id": "FIRST"}, 422),
    ],
)
def test_invalid_answers_are_rejected_and_nothing_is_stored(study, position, data, status):
    run, bundle = study
    client = signed_in(run, bundle, "alice")
    first = item_order_for(bundle, "alice")[0]
    data = {key: first if value == "FIRST" else value for key, value in data.items()}
    response = client.post(f"/item/{position}", data=data)
    assert response.status_code == status
    assert "<script>" not in response.text
    with AnnotationStore(HumanFolder(run).database) as store:
        assert store.count() == 0


def test_annotators_see_their_own_order_and_never_the_key(study):
    run, bundle = study
    for name in ("alice", "bob"):
        client = signed_in(run, bundle, name)
        first = item_order_for(bundle, name)[0]
        assert f'value="{first}"' in client.get("/item/1").text
    pages = "".join(client.get(path).text for path in ("/item/1", "/item/2", "/missing"))
    for secret in ("naive_finetune", "small_zero_shot", "preference_agent", "candidate_1_is"):
        assert secret not in pages
    assert client.get("/static/../key.json").status_code == 404
    assert client.get("/key.json").status_code == 404
    assert client.get("/item/0").status_code == 404


def test_the_loopback_server_checks_the_host_header(study):
    from prefbench.human_eval.server import make_server

    run, _ = study
    server = make_server(run, port=free_port())
    client = TestClient(server.config.app, base_url="http://127.0.0.1")
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_serve_binds_to_loopback_by_default(study):
    run, bundle = study
    port = free_port()
    code = f"from prefbench.human_eval.server import serve; serve({str(run)!r}, port={port})"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        listening = []
        while not listening and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            listening = [
                c.laddr
                for c in psutil.Process(process.pid).net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN
            ]
            time.sleep(0.1)
        assert [(address.ip, address.port) for address in listening] == [("127.0.0.1", port)]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert connection.recv(100).startswith(b"HTTP/1.1 200")
        outside = [
            address.address
            for addresses in psutil.net_if_addrs().values()
            for address in addresses
            if address.family == socket.AF_INET and not address.address.startswith("127.")
        ]
        for address in outside:
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    token = bundle.manifest.annotators[0].token
    assert f"alice: http://127.0.0.1:{port}/?token={token}" in output
    assert "WARNING" not in output


def test_serve_warns_when_asked_for_a_non_loopback_host(study, monkeypatch):
    run, _ = study
    started = []
    monkeypatch.setattr("uvicorn.Server.run", lambda server: started.append(server.config.host))
    lines: list[str] = []
    serve(run, host="0.0.0.0", port=8999, announce=lines.append, allow_remote=True)
    assert started == ["0.0.0.0"]
    assert lines[0].startswith("WARNING: serving on 0.0.0.0:8999, reachable by anyone")
    assert any(line.startswith("bob: http://") and ":8999/?token=" in line for line in lines)
    lines.clear()
    serve(run, port=8999, announce=lines.append)
    assert not any("WARNING" in line for line in lines)


def test_cli_serve_passes_host_and_port(study, monkeypatch):
    from typer.testing import CliRunner

    from prefbench.harness.cli.human import human_app

    run, _ = study
    started = []
    monkeypatch.setattr(
        "uvicorn.Server.run",
        lambda server: started.append((server.config.host, server.config.port)),
    )
    result = CliRunner().invoke(human_app, ["serve", "--run", str(run), "--port", "9001"])
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.1", 9001)] and "WARNING" not in result.output
    result = CliRunner().invoke(
        human_app,
        ["serve", "--run", str(run), "--host", "0.0.0.0", "--port", "9002", "--allow-remote"],
    )
    assert started[-1] == ("0.0.0.0", 9002) and "WARNING: serving on 0.0.0.0" in result.output
