"""A stand-in `vllm` command: `vllm serve MODEL --port P ...` as inspect's `vllm/` provider runs it.

It serves `tests.openai_test_server.OpenAITestServer` on 127.0.0.1 (whatever `--host` says:
tests never listen beyond loopback) and, like vLLM, refuses adapters it could not serve:
`/v1/load_lora_adapter` exists only when `VLLM_ALLOW_RUNTIME_LORA_UPDATING` is set in its
environment, a load is refused without `--enable-lora` and for an adapter whose rank is
above `--max-lora-rank` (default 16); `--max-lora-rank` must be one vLLM accepts and
`--max-cpu-loras` at least `--max-loras`, else it exits 1 at start, as vLLM does. Requests
for a model neither served nor loaded get 404.

Each start appends one JSON line (argv, the LoRA variable, `CUDA_VISIBLE_DEVICES`, pid) to
the file `STAND_IN_VLLM_LOG` names, and each answered request one line to
`STAND_IN_VLLM_REQUESTS` (`tests.openai_test_server.read_recorded` reads them).
`install_stand_in(folder)` writes the `vllm` executable and an importable `vllm` package
(inspect imports `vllm` before it starts a server); put `folder/bin` on PATH and `folder`
on `sys.path`.
"""

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from tests.openai_test_server import OpenAITestServer

LOG_VARIABLE = "STAND_IN_VLLM_LOG"
REQUESTS_VARIABLE = "STAND_IN_VLLM_REQUESTS"
RUNTIME_LORA_VARIABLE = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
REPO = Path(__file__).resolve().parent.parent


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """`vllm serve MODEL ...`: the flags the stand-in acts on, and the others."""
    parser = argparse.ArgumentParser(prog="vllm")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--enable-lora", action="store_true")
    parser.add_argument("--max-lora-rank", type=int, default=16)
    parser.add_argument("--max-loras", type=int, default=1)
    parser.add_argument("--max-cpu-loras", type=int, default=None)
    return parser.parse_known_args(argv)


def main(argv: list[str]) -> int:
    """Serve until SIGTERM; 1 for flags vLLM would refuse."""
    args, _ = parse(argv)
    log = os.environ.get(LOG_VARIABLE)
    if log:
        start = {
            "argv": argv,
            "runtime_lora_updating": os.environ.get(RUNTIME_LORA_VARIABLE),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "pid": os.getpid(),
        }
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(start) + "\n")
    if args.max_lora_rank not in VLLM_LORA_RANKS:
        print(f"max_lora_rank {args.max_lora_rank} not in {VLLM_LORA_RANKS}", file=sys.stderr)
        return 1
    if args.max_cpu_loras is not None and args.max_cpu_loras < args.max_loras:
        print("max_cpu_loras must be >= max_loras", file=sys.stderr)
        return 1
    requests = os.environ.get(REQUESTS_VARIABLE)
    server = OpenAITestServer(
        served_models=[args.model],
        record_file=Path(requests) if requests else None,
        runtime_lora_updating=bool(os.environ.get(RUNTIME_LORA_VARIABLE)),
        enable_lora=args.enable_lora,
        max_lora_rank=args.max_lora_rank,
        strict_models=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start(port=args.port)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


def install_stand_in(folder: Path) -> None:
    """Write `folder/bin/vllm` (this module as a command) and the package `folder/vllm`."""
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    command = folder / "bin" / "vllm"
    command.write_text(
        f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m tests.stand_in_vllm "$@"\n',
        encoding="utf-8",
    )
    command.chmod(0o755)
    (folder / "vllm").mkdir(exist_ok=True)
    (folder / "vllm" / "__init__.py").write_text('"""The stand-in vllm package."""\n')


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
