"""Progress of long runs (aligncheck.dynamics.progress): reported at checkpoints to a listener,
shown as a status line on a terminal only, and without any effect on the run itself."""

from __future__ import annotations

import io

import numpy as np

from aligncheck.data.planted import planted_problem
from aligncheck.dynamics.gd import gradient_descent
from aligncheck.dynamics.integrate import gradient_flow
from aligncheck.dynamics.late_phase import gradient_flow_mp
from aligncheck.dynamics.progress import listening
from aligncheck.harness.output import progress_line, progress_on
from aligncheck.numerics.losses import EXP, LOGISTIC
from aligncheck.numerics.network import init_layers

P = planted_problem(1, n=8, d=3, gamma=0.3, n_sv=3, sv_rank=3)
W0 = init_layers("gaussian", 3, [3], 0, scale=0.5, mean_z=P.Z.mean(axis=0))


def test_a_listened_flow_is_the_same_flow():
    quiet = gradient_flow(P.Z, EXP, W0, target_layer_norm=30.0)
    seen = []
    with listening(seen.append):
        heard = gradient_flow(P.Z, EXP, W0, target_layer_norm=30.0)
    assert heard.grad_evals == quiet.grad_evals and len(heard.checkpoints) == len(quiet.checkpoints)
    for a, b in zip(heard.final, quiet.final):
        np.testing.assert_array_equal(a, b)  # bit for bit: the reports evaluate outside the run
    times = [p.time for p in seen]
    assert len(seen) > 5 and times == sorted(times) and seen[-1].log_norm > seen[0].log_norm
    assert seen[-1].log_risk < seen[0].log_risk and all(p.method == "gf" and p.bits is None for p in seen)


def test_gd_and_high_precision_runs_report_too():
    seen = []
    with listening(seen.append):
        gradient_descent(P.Z, LOGISTIC, W0, step=0.5, steps=200)
        gradient_flow_mp(P.Z, EXP, W0, digits=20, s_span=0.5)
    methods = {(p.method, p.backend) for p in seen}
    assert ("gd", "float64") in methods and ("gf", "mpmath-20") in methods
    assert all(p.bits and p.bits >= 20 * 3 for p in seen if p.backend != "float64")  # ≥ 20 digits, in bits
    assert "gd on float64: step" in progress_line(next(p for p in seen if p.method == "gd"))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_only_on_a_terminal():
    pipe, tty = io.StringIO(), _Terminal()
    for stream in (pipe, tty):
        with progress_on(stream):
            gradient_flow(P.Z, EXP, W0, target_layer_norm=30.0)
    assert pipe.getvalue() == ""  # a pipe or a CI log: nothing
    assert tty.getvalue()  # a terminal: the status line was drawn (and cleared at the end)
