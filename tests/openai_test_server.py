"""A local OpenAI-compatible server for tests: stands in for vLLM and for the OpenAI API.

`OpenAITestServer` serves `/v1/chat/completions`, `/v1/models` and vLLM's
`/v1/load_lora_adapter` over real HTTP on 127.0.0.1, on an ephemeral port, from a thread of
the test process (uvicorn + starlette). Every request is recorded (`requests`, and one JSON
line per request in `record_file` when given, so tests can count calls made by a `prefbench`
subprocess). Answers are deterministic and shaped for prefbench's parsers, chosen by the
system message of the request:

- the judge ("impartial evaluator") answers `<winner>1</winner>`;
- intent extraction ("facts and requests") answers `<core_content>- ...</core_content>`;
- rule writers (a system message that mentions "rules") answer `<rules>- ...</rules>`;
- every other prompt (the writers) gets an email naming the model that wrote it.

As vLLM does, it can refuse adapters (`tests/stand_in_vllm.py` sets these from `vllm serve`'s
flags): without `runtime_lora_updating` there is no `/v1/load_lora_adapter` (404, vLLM's
behaviour without `VLLM_ALLOW_RUNTIME_LORA_UPDATING`); with `enable_lora` False a load is
refused (400), and so is an adapter whose `adapter_config.json` rank is above
`max_lora_rank`; with `strict_models` a completion for a model neither served nor loaded is
refused (404).

`delay_seconds` makes every completion wait (to interrupt a run in the middle of a stage).
`faults` script failures (`Fault`): for the requests whose prompt contains a text, a
sequence of answers (an HTTP error status, `"slow"`, `"malformed"`) before the normal one,
or one answer for ever. Every request that arrives, answered or not, is in `arrivals`;
`requests` holds the ones answered normally.
"""

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.openai_batch_endpoints import BatchEndpoints

BASE_MODEL_CONTEXT = 8192
"""The `max_model_len` listed for every served model (vLLM lists it on `/v1/models`)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One chat completion request as the server received it."""

    model: str
    temperature: float | None
    seed: int | None
    max_tokens: int | None
    messages: list[dict[str, Any]]
    port: int
    response_id: str | None = None
    """The `id` of the completion the server answered it with (unique per server)."""

    @property
    def system(self) -> str:
        """The system message's text ('' without one)."""
        return next((str(m["content"]) for m in self.messages if m["role"] == "system"), "")

    @property
    def prompt(self) -> str:
        """Every message's text, joined."""
        return "\n\n".join(str(message["content"]) for message in self.messages)


def reply_for(request: RecordedRequest) -> str:
    """The deterministic answer to a request (see the module docstring)."""
    system = request.system.lower()
    if "impartial evaluator" in system:
        return "<thinking>the first is closer</thinking><winner>1</winner>"
    if "facts and requests" in system:
        return "<core_content>- meet on Friday at noon\n- bring the report</core_content>"
    if "rules" in system:
        return "<thinking>short</thinking><rules>- Keep it short.\n- Sign off.</rules>"
    return f"Hi team, see you Friday at noon with the report. Written by {request.model}."


SLOW = "slow"
"""A fault answer: wait `Fault.slow_seconds`, then answer normally."""
MALFORMED = "malformed"
"""A fault answer: status 200 with a body that is not JSON."""


@dataclass
class Fault:
    """Scripted answers for the requests whose prompt contains `match` ('' matches all)
    and, when `model` is given, that ask for that model.

    The n-th matching request gets `sequence[n]` (an HTTP status such as 429, 500 or 400,
    `SLOW`, `MALFORMED`, or 200 for the normal answer); once the sequence is used up, every
    later one gets `then`. `seen` counts the matching requests.
    """

    match: str = ""
    model: str | None = None
    sequence: list[int | str] = field(default_factory=list)
    then: int | str = 200
    slow_seconds: float = 5.0
    seen: int = 0

    def matches(self, request: "RecordedRequest") -> bool:
        """Whether the fault applies to `request`."""
        return self.match in request.prompt and self.model in (None, request.model)

    def next_answer(self) -> int | str:
        """The answer to the next matching request (and count it)."""
        answer = self.sequence[self.seen] if self.seen < len(self.sequence) else self.then
        self.seen += 1
        return answer


def error_response(status: int) -> JSONResponse:
    """An OpenAI-shaped error body with `status`."""
    kind = "rate_limit_exceeded" if status == 429 else f"status_{status}"
    body = {"error": {"message": f"scripted {status}", "type": kind, "code": kind}}
    return JSONResponse(body, status_code=status)


@dataclass
class OpenAITestServer:
    """The server; `start()` it, point models at `base_url`, `stop()` it."""

    served_models: list[str] = field(default_factory=lambda: ["test-model"])
    record_file: Path | None = None
    delay_seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    arrivals: list[RecordedRequest] = field(default_factory=list)
    adapter_loads: list[dict[str, Any]] = field(default_factory=list)
    batch: BatchEndpoints = field(default_factory=BatchEndpoints)
    runtime_lora_updating: bool = True
    enable_lora: bool | None = None
    """None: adapters load whatever the flags (a server whose flags the test does not know)."""
    max_lora_rank: int | None = None
    strict_models: bool = False
    refused_loads: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`http://127.0.0.1:PORT/v1`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if self.record_file is not None:
                with self.record_file.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(request.__dict__) + "\n")

    def _fault_answer(self, request: RecordedRequest) -> int | str:
        """The scripted answer of the first fault matching `request` (200 when none does)."""
        with self._lock:
            self.arrivals.append(request)
            for fault in self.faults:
                if fault.matches(request):
                    return fault.next_answer()
        return 200

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        recorded = RecordedRequest(
            model=body["model"],
            temperature=body.get("temperature"),
            seed=body.get("seed"),
            max_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
            messages=body["messages"],
            port=self.port,
        )
        answer = self._fault_answer(recorded)
        if self.strict_models and not self._serves(recorded.model):
            body = {"error": {"message": f"The model `{recorded.model}` does not exist."}}
            return JSONResponse(body, status_code=404)
        if answer == MALFORMED:
            return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
        if isinstance(answer, int) and answer != 200:
            return error_response(answer)
        if answer == SLOW:
            fault = next(f for f in self.faults if f.matches(recorded))
            await asyncio.sleep(fault.slow_seconds)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        text = reply_for(recorded)
        with self._lock:
            response_id = f"chatcmpl-{self.port}-{len(self.requests) + 1}"
        self._record(replace(recorded, response_id=response_id))
        prompt_tokens = len(recorded.prompt.split())
        completion_tokens = len(text.split())
        return JSONResponse(
            {
                "id": response_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": recorded.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def _models(self, request: Request) -> JSONResponse:
        with self._lock:
            adapters = [load["lora_name"] for load in self.adapter_loads]
        entries = [
            {"id": name, "object": "model", "max_model_len": BASE_MODEL_CONTEXT}
            for name in self.served_models
        ]
        entries += [
            {"id": name, "object": "model", "parent": self.served_models[0]} for name in adapters
        ]
        return JSONResponse({"object": "list", "data": entries})

    def _serves(self, model: str) -> bool:
        with self._lock:
            return model in self.served_models or any(
                load["lora_name"] == model for load in self.adapter_loads
            )

    def _adapter_refusal(self, body: dict[str, Any]) -> str | None:
        """Why vLLM would refuse to load the adapter `body` names (None: it loads)."""
        if self.enable_lora is None:
            return None
        if not self.enable_lora:
            return "LoRA is not enabled: start the server with --enable-lora"
        config = Path(str(body.get("lora_path", ""))) / "adapter_config.json"
        try:
            rank = int(json.loads(config.read_text(encoding="utf-8"))["r"])
        except (OSError, ValueError, KeyError, TypeError):
            return f"no readable adapter_config.json with a rank at {config}"
        if rank > (self.max_lora_rank or 16):
            return f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank or 16}"
        return None

    async def _load_adapter(self, request: Request) -> JSONResponse:
        body = await request.json()
        refusal = self._adapter_refusal(body)
        with self._lock:
            if refusal is not None:
                self.refused_loads.append({**body, "reason": refusal})
                return JSONResponse({"error": {"message": refusal}}, status_code=400)
            self.adapter_loads.append(body)
        return JSONResponse({"status": "ok"})

    def start(self, port: int = 0) -> "OpenAITestServer":
        """Serve on 127.0.0.1 (`port` 0: an ephemeral one); returns once it accepts requests."""
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            *self.batch.routes(),  # Files and Batches API: tests.openai_batch_endpoints
        ]
        if self.runtime_lora_updating:
            routes.append(Route("/v1/load_lora_adapter", self._load_adapter, methods=["POST"]))
        app = Starlette(routes=routes)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="openai-test-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OpenAI test server did not start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> "OpenAITestServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def read_recorded(record_file: Path) -> list[RecordedRequest]:
    """The requests a server wrote to its `record_file` (none if it does not exist)."""
    if not record_file.exists():
        return []
    text = record_file.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a line being written is not a request yet
    return [RecordedRequest(**json.loads(line)) for line in complete.splitlines() if line.strip()]
