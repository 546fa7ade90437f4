"""Simulated judges of known bias, for the audit and length-control tests.

A simulated benchmark: users, each with pairs of system A against system B whose outputs
have random lengths. The judge sees each pair in both orders and chooses candidate 1 with

    logit P(candidate 1) = quality + position + length * (tanh(d / sd) for candidate 1)

where ``quality`` is A's advantage (signed by which slot A is in), ``position`` the planted
position bias and ``length`` the planted length bias on the normalized length lead of
candidate 1 over candidate 2 (AlpacaEval's covariate). With a user effect, a user's pairs
are correlated, as real ones are.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from prefbench.scorers.outcome import combine_orders
from prefbench.scorers.stats import AuditedPair

LENGTH_SD = 300.0
"""Standard deviation of the length difference in characters (lengths around 600)."""


@dataclass(frozen=True)
class SimulatedJudge:
    """The planted biases, on the logit scale.

    Attributes:
        quality: A's advantage over B at equal length and no position effect.
        position: Added to candidate 1's logit (0: no position bias).
        length: Added per unit of candidate 1's normalized length lead (0: no length bias).
        user_sd: Standard deviation of each user's own shift of A's quality.
    """

    quality: float = 0.0
    position: float = 0.0
    length: float = 0.0
    user_sd: float = 0.0


def simulate_pairs(
    judge: SimulatedJudge,
    n_users: int,
    pairs_per_user: int,
    rng: np.random.Generator,
    length_shift: float = 0.0,
) -> list[AuditedPair]:
    """Pairs judged in both orders by `judge`; A's outputs are `length_shift` longer on average."""
    pairs = []
    for user in range(n_users):
        quality = judge.quality + rng.normal(0.0, judge.user_sd) if judge.user_sd else judge.quality
        for _ in range(pairs_per_user):
            length_b = int(rng.integers(300, 900))
            length_a = max(1, int(length_b + length_shift + rng.normal(0.0, LENGTH_SD)))
            lead = np.tanh((length_a - length_b) / LENGTH_SD)
            # order ab: candidate 1 is A; order ba: candidate 1 is B
            logit_ab = quality + judge.position + judge.length * lead
            logit_ba = -quality + judge.position - judge.length * lead
            winner_ab = 1 if rng.random() < expit(logit_ab) else 2
            winner_ba = 1 if rng.random() < expit(logit_ba) else 2
            score = combine_orders(winner_ab, winner_ba).score
            pairs.append(
                AuditedPair("A", "B", f"u{user}", winner_ab, winner_ba, length_a, length_b, score)
            )
    return pairs


def true_first_slot_rate(judge: SimulatedJudge, n_draws: int = 200_000) -> float:
    """P(candidate 1 wins) over both orders and the length distribution, by Monte Carlo."""
    rng = np.random.default_rng(0)
    lead = np.tanh(rng.normal(0.0, LENGTH_SD, n_draws) / LENGTH_SD)
    quality = judge.quality + (rng.normal(0.0, judge.user_sd, n_draws) if judge.user_sd else 0.0)
    ab = expit(quality + judge.position + judge.length * lead)
    ba = expit(-quality + judge.position - judge.length * lead)
    return float((ab.mean() + ba.mean()) / 2)
