"""The data lemmas behind the max-margin theorem, as claims: α > 0 under Assumption 2.7 for almost
all data, and the sign lemma above its threshold (searched for counterexamples). Properties of the
data, not of the run (the computations are in aligncheck.data.alpha)."""

from __future__ import annotations

import math

from aligncheck.claims.check import RunRecord
from aligncheck.claims.ji_telgarsky.common import DATA_LEMMA, claim
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.sign_lemma import SignLemmaResult, sign_lemma_search
from aligncheck.data.alpha import AlphaResult, alpha


def alpha_verdict(res: AlphaResult) -> Verdict:
    """The data.alpha_positive verdict for an AlphaResult."""
    if not res.applicable:
        status = Status.NOT_APPLICABLE
    elif res.positive:
        status = Status.HOLDS
    elif math.isnan(res.alpha) or res.upper > res.tol:
        status = Status.INCONCLUSIVE  # certificate failed: neither positive nor zero shown
    else:
        status = Status.VIOLATED  # α = 0 within tolerance (expected when A2.7 fails)
    return Verdict("data.alpha_positive", status, None if math.isnan(res.alpha) else res.alpha, 0.0, res.reason)



def sign_lemma_verdict(res: SignLemmaResult) -> Verdict:
    """The data.sign_lemma verdict for a search: violated on a counterexample, holds (search-based)
    if none was found, inconclusive where the region could not be searched."""
    if math.isnan(res.min_value):
        status = Status.NOT_APPLICABLE if not res.applicable else Status.INCONCLUSIVE
    elif res.violated:
        status = Status.VIOLATED
    else:
        status = Status.HOLDS
    return Verdict("data.sign_lemma", status, res.min_value, 0.0, res.reason)


@claim("data.alpha_positive", statement="α := min_{ξ ⊥ ū, ‖ξ‖=1} max_{i ∈ SV} <ξ, z_i> > 0", source=DATA_LEMMA, kind="data", needs=("separable", "A2.7", "generic"), methods=("gf", "gd"), group="data_lemmas", worse="min")
def alpha_positive(run: RunRecord) -> Verdict:
    return alpha_verdict(alpha(run.setup.Z, run.setup.max_margin))


@claim("data.sign_lemma", statement="<w,ū> ≥ 0 and ‖Π⊥w‖ > threshold(α) imply <Π⊥w, ∇R(w)> ≥ 0", source=DATA_LEMMA, kind="data", needs=("separable", "A2.7", "exp|logistic"), methods=("gf", "gd"), group="data_lemmas", worse="min")
def sign_lemma(run: RunRecord) -> Verdict:
    a = alpha(run.setup.Z, run.setup.max_margin)
    if not a.applicable:
        return Verdict("data.sign_lemma", Status.NOT_APPLICABLE, None, 0.0, a.reason)
    if not a.positive:
        return Verdict("data.sign_lemma", Status.INCONCLUSIVE, None, 0.0, f"α is not certified positive ({a.reason}): no threshold to test above")
    # The search is seeded from the run's init seed, so a replay repeats it exactly.
    return sign_lemma_verdict(sign_lemma_search(run.setup.Z, run.setup.max_margin, run.setup.loss, a.alpha, seed=run.setup.seed))

