"""The annotation server in a child process on a loopback port, and annotator clients of it.

For the fault-injection and load tests: the server can be SIGKILLed like a real crash.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from prefbench.human_eval.bundle import Bundle, item_order_for
from tests.human_fixtures import free_port

REPO = Path(__file__).resolve().parents[1]


@dataclass
class ServerProcess:
    """A running server: its process and base URL."""

    process: subprocess.Popen
    base: str

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self.process.kill()
        self.process.wait(timeout=30)


def start_server(run: Path, timeout: float = 60) -> ServerProcess:
    """Start `make_server(run)` in a child process; return once it answers."""
    port = free_port()
    code = (
        "from prefbench.human_eval.server import make_server; "
        f"make_server({str(run)!r}, port={port}).run()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stdout.read().decode()}")
        try:
            if httpx.get(f"{base}/", timeout=2).status_code == 200:
                return ServerProcess(process, base)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not answer within {timeout} s")


@contextmanager
def running_server(run: Path) -> Iterator[ServerProcess]:
    """A server for the duration of a `with` block (killed at the end if still running)."""
    server = start_server(run)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=30)
        if server.process.stdout is not None:
            server.process.stdout.close()


@dataclass
class Annotator:
    """An annotator's browser: signs in with the invite link, then posts answers."""

    name: str
    token: str
    order: list[str]
    base: str
    acknowledged: list[tuple[str, str, int]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, bundle: Bundle, name: str, base: str) -> "Annotator":
        """The annotator `name` of the bundle, against the server at `base`."""
        token = next(a.token for a in bundle.manifest.annotators if a.name == name)
        return cls(name, token, item_order_for(bundle, name), base)

    def client(self) -> httpx.Client:
        """A signed-in client (cookie of a fresh session)."""
        client = httpx.Client(base_url=self.base, timeout=30)
        response = client.get(f"/?token={self.token}")
        if response.status_code != 200 or "prefbench_annotator" not in client.cookies:
            raise RuntimeError(f"{self.name} could not sign in: {response.status_code}")
        return client

    def answer(self, client: httpx.Client, position: int, choice: int) -> bool:
        """Post one answer; True (and recorded) when the server redirected, i.e. stored it."""
        item_id = self.order[position - 1]
        started = time.perf_counter()
        response = client.post(
            f"/item/{position}",
            data={"item_id": item_id, "choice": str(choice)},
            headers={"origin": self.base, "sec-fetch-site": "same-origin"},
        )
        self.latencies.append(time.perf_counter() - started)
        if response.status_code != 303:
            self.failures.append(f"{response.status_code}: {response.text[:200]}")
            return False
        self.acknowledged.append((self.name, item_id, choice))
        return True
