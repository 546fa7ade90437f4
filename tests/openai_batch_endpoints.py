"""OpenAI's Files and Batches endpoints for the local test server (`tests.openai_test_server`).

What inspect's OpenAI batcher (`inspect_ai.model._providers._openai_batch`) uses, as the
OpenAI API documents it: upload a JSONL file of requests (`POST /v1/files`, multipart,
`purpose=batch`), create a batch over it (`POST /v1/batches`), poll it (`GET
/v1/batches/{id}`: `validating`, `in_progress`, then `completed` with request counts and an
`output_file_id`), and download the output file (`GET /v1/files/{id}/content`: one JSON line
per request, `custom_id` and `response.body`). Each request line is answered by the server
itself: it is sent to the server's own `POST /v1/chat/completions` over loopback, so a batched
call is recorded, and answered, exactly like a live one. The endpoints keep what they saw
(`BatchEndpoints.files`, `.batches`) for tests to assert that the batch path was taken.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class BatchEndpoints:
    """The routes; each batch's requests go to the server that received the batch."""

    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def routes(self) -> list[Route]:
        """The Starlette routes to mount on the server's app."""
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self._content, methods=["GET"]),
            Route("/v1/batches", self._create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self._retrieve, methods=["GET"]),
        ]

    async def _upload(self, request: Request) -> JSONResponse:
        form = await request.form()
        upload = form["file"]
        if isinstance(upload, str) or form.get("purpose") != "batch":
            return JSONResponse({"error": {"message": "send a file with purpose=batch"}}, 400)
        content = await upload.read()
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return JSONResponse(_file_object(file_id, content, upload.filename or "batch.jsonl"))

    async def _content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return JSONResponse({"error": {"message": f"no file {file_id}"}}, 404)
        return Response(self.files[file_id], media_type="application/octet-stream")

    async def _create(self, request: Request) -> JSONResponse:
        body = await request.json()
        file_id = body.get("input_file_id")
        if file_id not in self.files or body.get("endpoint") != "/v1/chat/completions":
            return JSONResponse({"error": {"message": "unknown input file or endpoint"}}, 400)
        lines = [json.loads(line) for line in self.files[file_id].splitlines() if line.strip()]
        batch_id = f"batch_{len(self.batches) + 1}"
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": file_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "created_at": int(time.time()),
            "output_file_id": None,
            "error_file_id": None,
            "errors": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }
        self.batches[batch_id] = batch
        server = str(request.base_url).rstrip("/") + "/v1"
        task = asyncio.create_task(self._answer(server, batch, lines))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse(batch)

    async def _answer(
        self, server: str, batch: dict[str, Any], lines: list[dict[str, Any]]
    ) -> None:
        """Answer every request line through the server's chat endpoint; write the output."""
        batch["status"] = "in_progress"
        output = []
        async with httpx.AsyncClient(base_url=server, timeout=60) as client:
            for line in lines:
                reply = await client.post("/chat/completions", json=line["body"])
                output.append(
                    {
                        "id": f"batch_req_{len(output) + 1}",
                        "custom_id": line["custom_id"],
                        "response": {
                            "status_code": reply.status_code,
                            "request_id": f"req_{len(output) + 1}",
                            "body": reply.json(),
                        },
                        "error": None,
                    }
                )
                batch["request_counts"]["completed"] += 1
        output_id = f"file-{len(self.files) + 1}"
        self.files[output_id] = "".join(json.dumps(item) + "\n" for item in output).encode()
        batch["output_file_id"] = output_id
        batch["status"] = "completed"
        batch["completed_at"] = int(time.time())

    async def _retrieve(self, request: Request) -> JSONResponse:
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return JSONResponse({"error": {"message": "no such batch"}}, 404)
        return JSONResponse(batch)


def _file_object(file_id: str, content: bytes, filename: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": "batch",
        "status": "processed",
    }
