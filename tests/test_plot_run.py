"""The picture of a checked run (aligncheck.harness.plot_run, ``aligncheck check --plot``): the data
each panel draws, not its pixels, and the command line's contract.

Every limit panel must draw exactly the series its claim's judge read (JudgedRun.series, from the
claims layer), name its claim id and verdict, and show the judge's late window, rate line,
threshold and floor; a --late-phase run must show a float64 and a high-precision segment with the
point where float64 stopped marked. test_the_checks_catch_a_panel_that_misdraws shows the checks
failing on panels altered the ways a broken plot would alter them.

Runs (each a few seconds at most): gradient flow, depth 2, on a planted problem in R^3 whose
max-margin theorems apply, from a start where A1.2 first holds at s = 0.05 (so the claims are
judged on the run from there); the same --late-phase run as tests/test_cli.py; --precision 17 on
4 points in R^2; GD (the paper's step rule) for 10,000 steps (a late phase, limit series judged)
and for 3,000 (no late phase: every GD limit claim not judged on a series).
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest

import aligncheck as ac
from aligncheck.claims.registry import REGISTRY
from aligncheck.claims.verdicts import LimitSeries, Status, limit_window
from aligncheck.data.planted import planted_problem
from aligncheck.harness import cli
from aligncheck.harness.plot_run import plot_claim, plot_run, render_panels
from aligncheck.harness.run_panels import limit_panel, run_panels
from aligncheck.numerics.backends import Mpmath

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GAP_ROLES = ("gap", "gap_negative", "gap_zero")
ORDER = [Status.VIOLATED, Status.INCONCLUSIVE, Status.HOLDS]  # worst first, as worst_of_layers combines parts


def _problem(seed: int, n: int, d: int, n_sv: int) -> ac.Problem:
    pp = planted_problem(seed, n=n, d=d, gamma=0.3, n_sv=n_sv, sv_rank=min(n_sv, d))
    return ac.Problem.from_arrays(pp.X, pp.y)


@pytest.fixture(scope="module")
def gf():
    # generic support vectors (the max-margin theorems apply); A1.2 fails at W(0) at init scale 2
    # and first holds at s = 0.05 (measured), so the claims that need it judge the run from there.
    return ac.run_checked(_problem(2, 10, 3, 3), ac.RunSpec(depth=2, loss="exp", seed=3, init_scale=2.0))


@pytest.fixture(scope="module")
def late():
    # tests/test_cli.py's planted problem and --late-phase run (~3-5 s)
    return ac.run_checked(_problem(0, 8, 3, 4), ac.RunSpec(depth=2, loss="exp", late_phase=True))


def limit_ids(outcome) -> list[str]:
    """The claims judged on a series of LimitSeries (not not-applicable)."""
    return [v.claim for v in outcome.verdicts if REGISTRY[v.claim].kind in ("limit", "conjecture") and REGISTRY[v.claim].series is not None
            and v.status != Status.NOT_APPLICABLE]


def assert_draws(panel, series: list, verdict) -> None:
    """``panel`` draws exactly ``series`` (what the judge read) and the judge's outcome is the verdict's."""
    assert len(panel.series) == len(series) > 0
    for j, (drawn, judged) in enumerate(zip(panel.series, series)):
        for f in ("q", "scale", "times"):
            np.testing.assert_array_equal(getattr(drawn, f), getattr(judged, f))
        assert (drawn.p, drawn.threshold, drawn.floor, drawn.trend_only) == (judged.p, judged.threshold, judged.floor, judged.trend_only)
        curves = [c for c in panel.curves if c.part == j and c.role in GAP_ROLES]
        drawn_idx = set(np.concatenate([c.index for c in curves]).tolist())
        assert drawn_idx == set(limit_window(judged.q, judged.scale).defined.tolist())  # every point the judge read, no other
        for c in curves:
            np.testing.assert_array_equal(c.x, judged.scale[c.index])
            np.testing.assert_array_equal(c.y, np.abs(judged.q[c.index]))
        w = limit_window(judged.q, judged.scale)
        assert (float(judged.scale[w.late[0]]), float(judged.scale[w.late[-1]])) in panel.windows
    assert {ln.at for ln in panel.lines if ln.role == "threshold"} == {s.threshold for s in series}
    assert {ln.at for ln in panel.lines if ln.role == "floor"} == {s.floor for s in series}
    if verdict.confirmation is None:  # the judge on the drawn series gives the verdict (worst part, largest value)
        jds = [s.judge() for s in panel.series]
        assert min(ORDER.index(jd.status) for jd in jds) == ORDER.index(verdict.status)
        assert max(jd.value for jd in jds) == verdict.value


def test_every_limit_claim_has_a_panel_naming_its_id_and_status(gf):
    panels = {p.key: p for p in run_panels(gf)}
    ids = limit_ids(gf)
    assert {"gf.rank_one", "gf.adjacent_alignment", "gf.product_alignment", "gf.max_margin_v1", "gf.max_margin_product",
            "gf.margin_corollary"} <= set(ids)
    for cid in ids:
        v = next(v for v in gf.verdicts if v.claim == cid)
        p = panels[cid]
        assert p.claims == [(cid, v.status.value)]
        assert cid in p.title and v.status.value in p.title
    for key, named in (("risk", {"gf.risk_to_zero", "gf.risk_monotone"}), ("norms", {"gf.norms_diverge"})):
        assert {c for c, _ in panels[key].claims} == named
    # the not-applicable claims are listed in the notes, with their reason
    na = [v.claim for v in gf.verdicts if v.status == Status.NOT_APPLICABLE]
    assert na and all(cid in panels["notes"].note for cid in na)


def test_limit_panels_draw_the_series_the_judge_used(gf):
    panels = {p.key: p for p in run_panels(gf)}
    for cid in limit_ids(gf):
        v = next(v for v in gf.verdicts if v.claim == cid)
        assert_draws(panels[cid], gf.judged.series(cid), v)
        assert v.judged_from == 0.05 and "judged from s = 0.05" in panels[cid].note
        assert all(s.times[0] >= 0.05 for s in panels[cid].series)  # the run from where A1.2 holds, as judged


def test_rate_line_is_the_one_the_judge_tested(gf):
    # Recomputed here independently of judge_limit: the late window (second half of the run in log
    # scale), its first half, and C = max there of max(|q|, floor)·scale^p.
    panel = next(p for p in run_panels(gf) if p.key == "gf.rank_one")
    s = panel.series[0]
    ls = np.log(s.scale)
    late = np.nonzero(ls >= ls[0] + 0.5 * (ls[-1] - ls[0]))[0]
    ref = late[ls[late] <= ls[late[0]] + 0.5 * (ls[-1] - ls[late[0]])]
    C = np.max(np.maximum(np.abs(s.q[ref]), s.floor) * s.scale[ref] ** s.p)
    rate = next(c for c in panel.curves if c.role == "rate" and c.part == 0)
    slack = next(c for c in panel.curves if c.role == "rate_slack" and c.part == 0)
    np.testing.assert_allclose(rate.x, np.sort(s.scale[late]))
    np.testing.assert_allclose(rate.y, C * rate.x ** -s.p, rtol=1e-12)
    np.testing.assert_allclose(slack.y, 10 * rate.y, rtol=1e-12)
    assert s.p == 2 and v_status(gf, "gf.rank_one") == "holds"


def v_status(outcome, cid: str) -> str:
    return next(v.status.value for v in outcome.verdicts if v.claim == cid)


def test_lemma2_panels_draw_the_bounds_against_the_measured_quantities(gf):
    panels = {p.key: p for p in run_panels(gf)}
    for cid in ("gf.lemma2_rank_bound", "gf.lemma2_alignment_bound", "gf.balancedness"):
        p = panels[cid]
        assert p.claims == [(cid, v_status(gf, cid))]
        for j, s in enumerate(gf.judged.series(cid)):
            lhs = [c for c in p.curves if c.part == j and c.role in ("lhs", "gap_negative", "gap_zero")]
            idx = np.concatenate([c.index for c in lhs])
            assert set(idx.tolist()) == set(np.nonzero(np.isfinite(s.lhs))[0].tolist())
            for c in lhs:
                np.testing.assert_array_equal(c.y, np.abs(s.lhs[c.index]))
                np.testing.assert_array_equal(c.x, s.times[c.index])
            for role, want in (("rhs", s.rhs), ("rhs_tol", s.rhs + s.tol)):
                drawn = [c for c in p.curves if c.part == j and c.role == role]
                for c in drawn:
                    np.testing.assert_array_equal(c.y, want[c.index])
    rank = gf.judged.series("gf.lemma2_rank_bound")[0]
    assert np.all(rank.rhs == gf.judged.later.metrics.D)  # D of the run from where A1.2 holds


def test_late_phase_draws_float64_and_high_precision_segments_and_where_float64_stopped(late):
    stop = late.trajectory.late_phase.switched_at_s
    panels = {p.key: p for p in run_panels(late)}
    deepest = math.inf
    for cid in limit_ids(late):
        p = panels[cid]
        v = next(v for v in late.verdicts if v.claim == cid)
        assert_draws(p, late.judged.series(cid), v)
        gaps = [c for c in p.curves if c.role == "gap" and c.part == 0]
        f64 = [c for c in gaps if c.segment == "float64"]
        hp = [c for c in gaps if c.segment == "mpmath-50 (continuation)"]
        assert f64 and hp, (cid, [c.segment for c in gaps])
        s = p.series[0]
        assert s.times[f64[0].index].max() == stop == s.times[hp[0].index].min()  # they meet where float64 stopped
        [mark] = [ln for ln in p.lines if ln.role == "float64_stop"]
        i = int(np.nonzero(s.times == stop)[0][0])
        assert mark.at == s.scale[i] and mark.y == abs(s.q[i])
        assert hp[0].y.min() < f64[0].y.min()  # the gap went on falling past float64's floor
        deepest = min(deepest, hp[0].y.min())
    assert deepest < 1e-20  # measured 1e-31 (adjacent alignment)
    for key in ("risk", "norms", "gf.balancedness"):  # the time panels mark it too
        assert [ln.at for ln in panels[key].lines if ln.role == "float64_stop"] == [stop]


def test_precision_run_is_one_high_precision_segment():
    out = ac.run_checked(_problem(0, 4, 2, 2), ac.RunSpec(depth=2, loss="exp", precision=17),
                         ["gf.risk_to_zero", "gf.rank_one", "gf.adjacent_alignment", "gf.max_margin_product"])
    panels = {p.key: p for p in run_panels(out)}
    for cid in ("gf.rank_one", "gf.adjacent_alignment", "gf.max_margin_product"):
        assert_draws(panels[cid], out.judged.series(cid), next(v for v in out.verdicts if v.claim == cid))
        assert {c.segment for c in panels[cid].curves if c.segment} == {"mpmath-17"}
        assert not [ln for ln in panels[cid].lines if ln.role == "float64_stop"]
    assert {c for c, _ in panels["norms"].claims} == {"gf.norms_diverge"} and panels["norms"].claims[0][1] == "not judged"


def test_gd_panels_judge_in_the_step_count_and_say_when_a_claim_was_not_judged():
    p = _problem(0, 8, 3, 4)
    ids = [c for c in REGISTRY if c.startswith("gd.") and REGISTRY[c].kind == "limit"]
    long = ac.run_checked(p, ac.RunSpec(depth=2, loss="logistic", method="gd", gd_steps=10_000, init_scale=0.5), ids)
    panels = {q.key: q for q in run_panels(long)}
    judged = limit_ids(long)
    assert {"gd.rank_one", "gd.adjacent_alignment", "gd.product_alignment"} <= set(judged)
    for cid in judged:
        v = next(v for v in long.verdicts if v.claim == cid)
        assert_draws(panels[cid], long.judged.series(cid), v)
        assert all(s.trend_only and s.scale_name == "step + 1" for s in panels[cid].series)
        assert not [c for c in panels[cid].curves if c.role in ("rate", "rate_slack")]  # no rate test under GD
        assert "trend only" in panels[cid].note
    assert "drift" in panels and "not a claim" in panels["drift"].title
    short = ac.run_checked(p, ac.RunSpec(depth=2, loss="logistic", method="gd", gd_steps=3_000, init_scale=1.0), ids)
    for q in run_panels(short):
        if q.key in ("gd.rank_one", "gd.adjacent_alignment", "gd.product_alignment"):
            assert not q.curves and q.note.startswith("not judged on a series: fewer than 8 checkpoints in the late phase"), q.note
    plot_run(short, io.BytesIO(), claims=["gd.rank_one"], context=False, fmt="png")  # a text-only panel draws too


def test_a_gap_below_float64s_range_is_marked_on_the_axis_not_dropped(gf):
    # A 50-digit gap of 1e-400 becomes 0.0 when the metrics round it to float (as the judge sees it).
    tiny = float(Mpmath(50).to_float(Mpmath(50).ctx.mpf("1e-400")))
    assert tiny == 0.0
    q = np.array([1e-3, 2e-4, np.nan, 1e-5, tiny, -3e-19, 1e-8])
    scale = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0])
    s = LimitSeries("q", q, scale, np.arange(7.0), 2.0, 1e-3, 1e-18)
    v = ac.Verdict("gf.rank_one", Status.HOLDS, 1e-8, 1e-3, "synthetic")
    panel = limit_panel("gf.rank_one", v, [s], gf.trajectory)
    by_role = {c.role: c for c in panel.curves if c.role in GAP_ROLES}
    assert by_role["gap_zero"].index.tolist() == [4] and by_role["gap_zero"].x.tolist() == [8.0]
    assert by_role["gap_negative"].index.tolist() == [5] and by_role["gap_negative"].y.tolist() == [3e-19]
    assert by_role["gap"].index.tolist() == [0, 1, 3, 6]  # nan (undefined) skipped, as the judge skips it
    buf = io.BytesIO()
    render_panels([panel], buf, "png")
    assert buf.getvalue().startswith(PNG_MAGIC)


def test_one_claims_panel_alone(gf):
    buf = io.BytesIO()
    drawn = plot_claim(gf, "gf.max_margin_product", buf, fmt="png")
    assert [p.key for p in drawn.panels] == ["gf.max_margin_product"] and drawn.path is None
    assert buf.getvalue().startswith(PNG_MAGIC)
    assert_draws(drawn.panels[0], gf.judged.series("gf.max_margin_product"), next(v for v in gf.verdicts if v.claim == "gf.max_margin_product"))


def test_the_checks_catch_a_panel_that_misdraws(gf):
    """The checks above fail on the mistakes a plot could make: a shifted value, a dropped point,
    a rate line with the wrong exponent, a missing float64 segment."""
    panel = next(p for p in run_panels(gf) if p.key == "gf.rank_one")
    series, v = gf.judged.series("gf.rank_one"), next(v for v in gf.verdicts if v.claim == "gf.rank_one")
    assert_draws(panel, series, v)
    i = next(k for k, c in enumerate(panel.curves) if c.role == "gap")
    c = panel.curves[i]
    shifted = dataclasses.replace(c, y=c.y * (1 + 1e-9))
    dropped = dataclasses.replace(c, x=c.x[1:], y=c.y[1:], index=c.index[1:])
    for bad in (shifted, dropped):
        with pytest.raises(AssertionError):
            assert_draws(dataclasses.replace(panel, curves=[bad if k == i else x for k, x in enumerate(panel.curves)]), series, v)
    other = dataclasses.replace(series[0], q=series[0].q * 1.5)  # a panel of another series than the judged one
    with pytest.raises(AssertionError):
        assert_draws(dataclasses.replace(panel, series=[other]), series, v)
    with pytest.raises(AssertionError):  # no threshold line
        assert_draws(dataclasses.replace(panel, lines=[ln for ln in panel.lines if ln.role != "threshold"]), series, v)


# ---------------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def planted_npz(tmp_path_factory):
    pp = planted_problem(0, n=8, d=3, gamma=0.3, n_sv=4, sv_rank=3)
    path = tmp_path_factory.mktemp("plot") / "planted.npz"
    np.savez(path, X=pp.X, y=pp.y)
    return path


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_cli_writes_the_plot(capsys, tmp_path, planted_npz, ext):
    out = tmp_path / f"run.{ext}"
    rc = cli.main(["check", str(planted_npz), "--depth", "2", "--loss", "exp", "--plot", str(out), "--json"])
    stdout, err = capsys.readouterr()
    assert rc == 0 and stdout.lstrip().startswith("{")  # stdout is still exactly the JSON document
    assert err.strip() == f"aligncheck: plot written to {out} (10 panels)"
    data = out.read_bytes()
    if ext == "png":
        assert data.startswith(PNG_MAGIC)
    else:
        text = data.decode()
        assert text.lstrip().startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")
        assert "gf.rank_one: holds" in text  # the titles are text in the SVG


@pytest.mark.parametrize("name", ["out.txt", "out", "missing_dir/out.png"])
def test_cli_bad_plot_path_exits_2_with_one_line_before_running(capsys, tmp_path, planted_npz, name):
    rc = cli.main(["check", str(planted_npz), "--depth", "2", "--loss", "exp", "--plot", str(tmp_path / name)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("aligncheck: error: --plot "), err
    assert not list(tmp_path.iterdir())
