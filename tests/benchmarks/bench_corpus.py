"""Benchmark of `prepare_corpus` on the Enron sample replicated 1x, 10x and 100x.

The shared sample (10 mailboxes x 250 sent messages) is replicated into a temporary maildir
with renamed mailboxes (``bass-e-x001``...; hard links where possible), and
`prepare_corpus("enron", ...)` runs on each size in its own child process. Prints messages
per second and peak resident memory per size, the peak-memory ratio 100x/1x (flat memory
means the corpus is streamed), and the time projected for the full CMU corpus (517,401
messages) at the 100x rate. Usage:

    .venv/bin/python tests/benchmarks/bench_corpus.py [--sample DIR] [--sizes 1 10 100]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL_CORPUS_MESSAGES = 517_401
DEFAULT_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "enron-sample"

CHILD = """
import sys
from pathlib import Path
from prefbench.tasks.corpora.prepare import prepare_corpus
summary = prepare_corpus("enron", Path(sys.argv[1]), Path(sys.argv[2]), users=15,
    min_records=20, seed=0, split="random", user_field="author", strict=False)
print(summary.read, summary.kept)
"""


def replicate(sample: Path, target: Path, copies: int) -> int:
    """Copy the sample's mailboxes `copies` times under ``target/maildir``; return file count."""
    source = sample / "maildir" if (sample / "maildir").is_dir() else sample
    count = 0
    for copy in range(copies):
        for mailbox in sorted(path for path in source.iterdir() if path.is_dir()):
            for file in mailbox.rglob("*"):
                if not file.is_file():
                    continue
                relative = file.relative_to(mailbox)
                destination = target / "maildir" / f"{mailbox.name}-x{copy:03d}" / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(file, destination)
                except OSError:
                    shutil.copyfile(file, destination)
                count += 1
    return count


def timed_prepare(source: Path, out: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and output of one `prepare_corpus` in a child process."""
    command = [sys.executable, "-c", CHILD, str(source), str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"prepare_corpus failed on {source} with status {status}")
    return seconds, usage.ru_maxrss / 1024, output.strip()


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prefbench-bench-corpus-"))
    results: dict[int, tuple[int, float, float]] = {}
    try:
        for size in args.sizes:
            corpus = work / f"x{size}"
            messages = replicate(args.sample, corpus, size)
            seconds, peak_mib, output = timed_prepare(corpus, work / f"out{size}")
            results[size] = (messages, seconds, peak_mib)
            print(
                f"{size:>4}x: {messages:>7} messages in {seconds:7.1f} s = "
                f"{messages / seconds:7.0f} msg/s, peak RSS {peak_mib:7.1f} MiB "
                f"(read, kept: {output})",
                flush=True,
            )
            shutil.rmtree(corpus, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    smallest, largest = min(results), max(results)
    ratio = results[largest][2] / results[smallest][2]
    print(f"peak memory {largest}x / {smallest}x: {ratio:.2f}")
    messages, seconds, _ = results[largest]
    projected = FULL_CORPUS_MESSAGES / (messages / seconds)
    print(
        f"projected for {FULL_CORPUS_MESSAGES:,} messages at the {largest}x rate: "
        f"{projected / 60:.1f} min (all sent mail; the full corpus also has non-sent folders, "
        f"which are counted without being parsed)"
    )


if __name__ == "__main__":
    main()
