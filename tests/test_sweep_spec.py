"""Sweep specifications without a cluster: parsing, budgets, the grid's cells and runs (order,
seeds, keys, data claims once per problem), the hunt's ranking, and the command line's bad input."""

from __future__ import annotations

import math

import pytest

from aligncheck.claims.registry import REGISTRY
from aligncheck.errors import ProblemError
from aligncheck.harness import cli
from aligncheck.harness.sweep.hunt import closeness
from aligncheck.harness.sweep.presets import PRESETS
from aligncheck.harness.sweep.spec import Budget, cells, grid_size, grid_tasks, load_spec, parse_budget, parse_spec


@pytest.mark.parametrize("text, budget", [("500", Budget(runs=500)), ("90s", Budget(seconds=90)), ("30m", Budget(seconds=1800)),
                                          ("2h", Budget(seconds=7200)), ("1.5h", Budget(seconds=5400))])
def test_budget(text, budget):
    assert parse_budget(text) == budget


@pytest.mark.parametrize("text", ["0", "-3", "30 minutes", "", "1e3"])
def test_bad_budget(text):
    with pytest.raises(ProblemError):
        parse_budget(text)


@pytest.mark.parametrize("doc, what", [
    ({"grid": {"depht": 2}}, "unknown grid axis"),
    ({"grid": {"gamma": [0.1, -1]}}, "positive finite"),
    ({"grid": {"loss": "square"}}, "one of"),
    ({"grid": {"widths": "3,0"}}, "comma-separated"),
    ({"seeds": 0}, "seeds"),
    ({"claims": ["nope.*"]}, "matches no registered claim"),
    ({"plugins": ["no_such_module_here"]}, "cannot import"),
    ({"colour": 1}, "unknown SPEC key"),
])
def test_bad_spec(doc, what):
    with pytest.raises(ProblemError, match=what):
        spec = parse_spec(doc)
        list(grid_tasks(spec, *cells(spec)[:2]))


def test_every_preset_parses_and_has_runnable_cells():
    for name in PRESETS:
        spec = load_spec(name)
        data, runs, _ = cells(spec)
        assert data and runs, name
    spec = load_spec("default")  # the benchmark's preset: d ≤ 6, depth ≤ 4, n ≤ 50, gradient flow
    assert max(spec.grid["d"]) <= 6 and max(spec.grid["depth"]) <= 4 and max(spec.grid["n"]) <= 50
    assert set(spec.grid.get("method", ("gf",))) == {"gf"}


def test_infeasible_cells_are_left_out_with_a_reason():
    spec = parse_spec({"grid": {"d": [1, 3], "sv": ["full", "data"], "n": 6}})
    data, runs, bad = cells(spec)
    assert len(data) == 3 and len(bad) == 1  # sv = data needs d ≥ 2
    assert "sv_rank" in next(iter(bad.values()))


def test_grid_order_seeds_keys_and_data_claims():
    doc = {"seeds": 2, "claims": ["gf.rank_one", "data.alpha_positive"], "grid": {"gamma": [0.1, 0.2], "depth": [1, 2], "loss": ["exp", "logistic"]}}
    spec = parse_spec(doc)
    data, runs, _ = cells(spec)
    tasks = list(grid_tasks(spec, data, runs))
    assert len(tasks) == grid_size(spec, data, runs) == 16
    assert [t.params["seed_index"] for t in tasks] == [0] * 8 + [1] * 8  # every cell before the next seed
    assert len({t.key for t in tasks}) == 16
    assert [t.key for t in grid_tasks(parse_spec(doc), data, runs)] == [t.key for t in tasks]  # stable
    # data claims once per (problem, loss): on the first run cell with that loss
    with_data = [t for t in tasks if "data.alpha_positive" in t.params["claims"]]
    assert len(with_data) == 2 * 2 * 2 and {t.params["depth"] for t in with_data} == {1}
    assert {(t.params["problem_seed"], t.params["init_seed"]) for t in tasks if t.params["seed_index"] == 0} == {
        (tasks[0].params["problem_seed"], tasks[0].params["init_seed"])}


def test_run_budget_takes_the_first_runs_of_the_grid():
    spec = parse_spec({"seeds": 5, "budget": "3", "grid": {"gamma": [0.1, 0.2]}})
    assert spec.budget.runs == 3


def test_closeness_orders_towards_violation():
    gap, smallest_step = REGISTRY["gf.max_margin_v1"], REGISTRY["conj.smoothed_margin_monotone"]
    assert closeness(gap, "violated", 1e-9, 1e-3) == math.inf
    assert closeness(gap, "holds", 5e-4, 1e-3) > closeness(gap, "holds", 1e-6, 1e-3)  # a larger gap is closer
    assert closeness(smallest_step, "holds", -1e-9, -1e-7) > closeness(smallest_step, "holds", 0.1, -1e-7)
    assert closeness(gap, "not_applicable", 1.0, 1e-3) is None


@pytest.mark.parametrize("argv", [
    ["sweep", "no-such-spec.toml"],
    ["sweep", "default", "--budget", "soon"],
    ["sweep-report", "no-such.sqlite"],
    ["sweep-report", "x.sqlite", "--by", "colour"],
])
def test_bad_input_is_one_line_and_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aligncheck: error: ")


def test_bad_toml_and_not_a_database(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("name = \n")
    (tmp_path / "bad.sqlite").write_text("not a database")
    assert cli.main(["sweep", str(tmp_path / "bad.toml")]) == 2
    assert cli.main(["sweep-report", str(tmp_path / "bad.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("aligncheck: error: ") for e in err)


def test_show_prints_a_preset(capsys):
    assert cli.main(["sweep", "margin-depth", "--show"]) == 0
    assert parse_spec(__import__("tomllib").loads(capsys.readouterr().out)).name == "margin-depth"
