"""Results that travel: a benchmark release, method submissions and a merged leaderboard.

`make_release` (`prefbench release`), `make_submission` (`prefbench submit`) and
`build_leaderboard` (`prefbench leaderboard`); docs/leaderboard.md describes the formats.
"""

from prefbench.harness.release.board import Leaderboard
from prefbench.harness.release.leaderboard import build_leaderboard
from prefbench.harness.release.manifest import ReleaseManifest, read_release
from prefbench.harness.release.release import make_release
from prefbench.harness.release.submission import Submission, make_submission, read_submission

__all__ = [
    "Leaderboard",
    "ReleaseManifest",
    "Submission",
    "build_leaderboard",
    "make_release",
    "make_submission",
    "read_release",
    "read_submission",
]
