"""A sweep specification and the runs it asks for.

A SPEC is a TOML document (or the name of a built-in preset, aligncheck.harness.sweep.presets)::

    name = "margin-depth"
    seeds = 4                  # runs per grid cell (seed index i = 0..seeds-1)
    budget = "2000"            # a number of runs, or a wall time: "90s", "30m", "2h"
    claims = ["gf.max_margin_*", "gf.margin_corollary"]   # fnmatch patterns (default: every claim of the method)
    plugins = []               # modules imported on every worker first (to register claims of one's own)

    [grid]                     # each axis a value or a list of values; the grid is their product
    gamma = [0.001, 0.01, 0.1]
    depth = [1, 2, 4]

The axes and their defaults are :data:`AXES`. A cell is one value per axis; its runs are its seed
indices. Seeds: problem seed and init seed depend only on the spec's ``seed`` and the seed index,
so cells that differ in one axis run on the same draws (a phase diagram compares like with like).
A run's key hashes its cell, seeds and claims: the same SPEC on the same database finds its runs.

Data claims (kind "data": properties of the data and the loss, not of the run) are judged once per
(problem, loss): on the first network configuration of the grid with that loss (``judge_data``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aligncheck.claims.registry import REGISTRY
from aligncheck.data.edge_cases import EDGE_KINDS
from aligncheck.data.planted import SV_SPANS
from aligncheck.dynamics.spec import METHODS, RunSpec
from aligncheck.errors import ProblemError
from aligncheck.harness.sweep.problems import build_problem
from aligncheck.numerics.losses import LOSSES
from aligncheck.numerics.network import INITS, check_network_size

# Every axis of a grid and its default. Data axes build the problem; the others the run.
# sv: how the support vectors span ("full": R^d, A2.7; "data": span(SV) = span(data) < R^d;
# "partial": span(SV) < span(data) = R^d); sv_rank: their rank (default d, or d − 1 unless full);
# n_sv: how many (default sv_rank). width: every hidden width ("d": the input dimension);
# widths: explicit hidden widths "3,4" (overrides width). step: GD's step, "paper" (the rule of
# Assumption 3.5) or a number; steps: GD steps (both ignored for gradient flow).
DATA_AXES = {"case": "planted", "d": 3, "n": 12, "gamma": 0.25, "sv": "full", "sv_rank": None, "n_sv": None}
RUN_AXES = {"depth": 2, "width": "d", "widths": None, "init": "gaussian", "init_scale": 1.0, "loss": "exp",
            "method": "gf", "step": "paper", "steps": 2000}
AXES = {**DATA_AXES, **RUN_AXES}
CASES = ("planted", *EDGE_KINDS)
KEYS = ("name", "seeds", "budget", "claims", "plugins", "seed", "grid", "mode", "hunt")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class Budget:
    """How much a sweep may spend: at most ``runs`` runs (None: no cap) and ``seconds`` of wall time."""

    runs: int | None = None
    seconds: float | None = None

    def __str__(self) -> str:
        parts = ([f"{self.runs} runs"] if self.runs is not None else []) + ([f"{self.seconds:g} s"] if self.seconds is not None else [])
        return " and ".join(parts) or "unbounded"


def parse_budget(text: str | int) -> Budget:
    """'500' (runs), '90s', '30m', '2h', '1d' (wall time); ProblemError otherwise."""
    s = str(text).strip().lower()
    if re.fullmatch(r"[0-9]+", s) and int(s) > 0:
        return Budget(runs=int(s))
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([smhd])", s)
    if m and float(m.group(1)) > 0:
        return Budget(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise ProblemError(f"budget {text!r}: give a positive number of runs (500) or a wall time (90s, 30m, 2h)")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed SPEC: name, grid (axis -> tuple of values), seeds per cell, budget, claim patterns,
    plugin modules, the spec's base seed, its mode ("grid" or "hunt") and the hunt's settings."""

    name: str
    grid: dict[str, tuple]
    seeds: int = 1
    budget: Budget = field(default_factory=Budget)
    claims: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    seed: int = 0
    mode: str = "grid"
    hunt: dict = field(default_factory=dict)
    text: str = ""

    def varying(self) -> list[str]:
        """The axes with more than one value, in AXES order."""
        return [a for a in AXES if len(self.grid.get(a, ())) > 1]


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: ``params`` (JSON-able: the cell's axes, ``problem_seed``, ``init_seed``,
    ``seed_index``, ``claims``, ``plugins``) and its key (hex, stable across sessions)."""

    key: str
    params: dict


def load_spec(source: str) -> SweepSpec:
    """The SweepSpec of a TOML file, or of a built-in preset by name (ProblemError on bad input)."""
    from aligncheck.harness.sweep.presets import PRESETS

    if source in PRESETS:
        text = PRESETS[source]
    else:
        path = Path(source)
        if not path.is_file():
            raise ProblemError(f"{source}: no such SPEC file, and not a preset (presets: {', '.join(PRESETS)})")
        text = path.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{source}: not valid TOML ({exc})") from None
    return parse_spec(doc, text=text, default_name=Path(source).stem)


def parse_spec(doc: dict, *, text: str = "", default_name: str = "sweep") -> SweepSpec:
    unknown = set(doc) - set(KEYS)
    if unknown:
        raise ProblemError(f"unknown SPEC key(s) {', '.join(sorted(unknown))}; known: {', '.join(KEYS)}")
    grid_doc = doc.get("grid", {})
    if not isinstance(grid_doc, dict):
        raise ProblemError("[grid] must be a table of axes")
    bad = set(grid_doc) - set(AXES)
    if bad:
        raise ProblemError(f"unknown grid axis/axes {', '.join(sorted(bad))}; known: {', '.join(AXES)}")
    grid = {a: tuple(_check_axis(a, v) for v in (grid_doc[a] if isinstance(grid_doc[a], list) else [grid_doc[a]])) for a in grid_doc}
    for a, values in grid.items():
        if not values:
            raise ProblemError(f"grid axis {a} has no values")
    seeds = doc.get("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ProblemError(f"seeds must be a positive integer, got {seeds!r}")
    mode = doc.get("mode", "grid")
    if mode not in ("grid", "hunt"):
        raise ProblemError(f"mode must be grid or hunt, got {mode!r}")
    claims = tuple(doc.get("claims", ()))
    plugins = tuple(doc.get("plugins", ()))
    if not all(isinstance(c, str) for c in claims + plugins):
        raise ProblemError("claims and plugins must be lists of strings")
    for module in plugins:  # their claims must be registered here too, to be selected
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ProblemError(f"plugins: cannot import {module!r} ({exc})") from None
    seed = doc.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ProblemError(f"seed must be a non-negative integer, got {seed!r}")
    budget = parse_budget(doc["budget"]) if "budget" in doc else Budget()
    return SweepSpec(str(doc.get("name", default_name)), grid, seeds, budget, claims, plugins, seed, mode,
                     dict(doc.get("hunt", {})), text)


def _check_axis(axis: str, v: object) -> object:
    """One axis value, type-checked (ProblemError names the axis)."""
    def fail(what: str):
        raise ProblemError(f"grid axis {axis}: {v!r} is not {what}")

    if axis in ("d", "n", "sv_rank", "n_sv", "depth", "steps"):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            fail("a positive integer")
    elif axis in ("gamma", "init_scale"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            fail("a positive finite number")
        v = float(v)
    elif axis == "width":
        if v != "d" and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            fail('a positive integer or "d"')
    elif axis == "widths":
        if not isinstance(v, str) or not re.fullmatch(r"\s*([0-9]+\s*(,\s*[0-9]+\s*)*)?", v) or "0" in v.replace(" ", "").split(","):
            fail('a string of comma-separated positive integers ("3,4")')
    elif axis == "step":
        if v != "paper" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0)):
            fail('"paper" or a positive number')
        v = v if v == "paper" else float(v)
    else:
        choices = {"case": CASES, "sv": SV_SPANS, "init": INITS, "loss": tuple(LOSSES), "method": METHODS}[axis]
        if v not in choices:
            fail(f"one of {', '.join(choices)}")
    return v


def claim_ids(spec: SweepSpec, method: str) -> tuple[str, ...]:
    """The registered claims for ``method`` that match the spec's patterns (all of them by default)."""
    mine = [c.id for c in REGISTRY.values() if method in c.methods]
    if not spec.claims:
        return tuple(mine)
    for pat in spec.claims:
        if not any(fnmatch.fnmatchcase(c, pat) for c in REGISTRY):
            raise ProblemError(f"claims: {pat!r} matches no registered claim")
    return tuple(c for c in mine if any(fnmatch.fnmatchcase(c, p) for p in spec.claims))


def normalise(cell: dict) -> dict:
    """Fill the defaults that depend on other axes and drop what the method ignores."""
    c = dict(cell)
    if c["case"] == "planted":
        c["sv_rank"] = c["d"] if c["sv"] == "full" else (c["sv_rank"] or c["d"] - 1)
        c["n_sv"] = c["n_sv"] or c["sv_rank"]
    else:  # edge cases define their own support vectors
        c["sv"] = c["sv_rank"] = c["n_sv"] = None
    if c["method"] == "gf":
        c["step"] = c["steps"] = None
    return c


def hidden_widths(cell: dict) -> tuple[int, ...] | None:
    """The cell's L − 1 hidden widths (None: d each, for a problem whose d the cell does not fix)."""
    if cell["widths"] is not None:
        return tuple(int(w) for w in cell["widths"].split(",") if w.strip())
    if cell["width"] == "d" and cell["d"] is None:
        return None
    w = cell["d"] if cell["width"] == "d" else cell["width"]
    return (int(w),) * (cell["depth"] - 1)


def run_spec(params: dict) -> RunSpec:
    """The RunSpec of a run's params."""
    gd = params["method"] == "gd"
    return RunSpec(depth=params["depth"], loss=params["loss"], init=params["init"], seed=params["init_seed"],
                   init_scale=params["init_scale"], widths=hidden_widths(params), method=params["method"],
                   gd_step=(None if params["step"] == "paper" else params["step"]) if gd else None,
                   gd_steps=params["steps"] if gd else RunSpec.gd_steps)


def feasible(cell: dict) -> str | None:
    """None if the cell can run, else why not (a planted problem's shape, the network's widths)."""
    try:
        widths = hidden_widths(cell)
        if widths is not None and len(widths) != cell["depth"] - 1:
            return f"depth {cell['depth']} needs {cell['depth'] - 1} hidden width(s), got widths {cell['widths']!r}"
        if widths is not None and cell["d"] is not None:
            check_network_size(cell["d"], widths)
        if cell["case"] == "planted":
            build_problem({**cell, "problem_seed": 0}, solve=False)
    except ProblemError as exc:
        return str(exc)
    return None


def cells(spec: SweepSpec) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(data cells, run cells, infeasible): the grid's data part and run part (each deduplicated,
    in grid order), and the infeasible ones of either part (cell JSON -> reason)."""
    def product(axes: dict) -> list[dict]:
        names = list(axes)
        out, seen = [], set()
        for values in itertools.product(*(spec.grid.get(a, (axes[a],)) for a in names)):
            c = dict(zip(names, values))
            k = json.dumps(c, sort_keys=True)
            if k not in seen:
                seen.add(k)
                out.append(c)
        return out

    data, runs = product(DATA_AXES), product(RUN_AXES)
    for dc in data:  # an edge case's builder has its own defaults for the axes the grid leaves out
        if dc["case"] != "planted":
            dc.update({a: None for a in ("d", "n", "gamma") if a not in spec.grid})
    good, bad = [], {}
    for dc in data:
        full = normalise({**dc, **RUN_AXES, "depth": 1})
        why = feasible(full)
        if why is None:
            good.append({k: full[k] for k in DATA_AXES})
        else:
            bad[json.dumps(dc, sort_keys=True)] = why
    runs = list({json.dumps(r, sort_keys=True): r for r in (normalise({**DATA_AXES, **r}) for r in runs)}.values())
    ok_runs = []
    for r in runs:
        w = hidden_widths({**r, "d": None})
        if w is not None and len(w) != r["depth"] - 1:
            bad[json.dumps({k: r[k] for k in RUN_AXES}, sort_keys=True)] = f"depth {r['depth']} needs {r['depth'] - 1} hidden width(s), got widths {r['widths']!r}"
        else:
            ok_runs.append({k: r[k] for k in RUN_AXES})
    return good, ok_runs, bad


def stable_int(*parts: object) -> int:
    """A 32-bit seed that is a pure function of ``parts`` (blake2b of their JSON)."""
    return int.from_bytes(hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=4).digest(), "big")


def run_key(params: dict) -> str:
    """The run's key: a hash of everything that defines it (cell, seeds, claims)."""
    return hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=10).hexdigest()


def make_task(spec: SweepSpec, cell: dict, i: int, *, judge_data: bool = True, problem_seed: int | None = None,
              init_seed: int | None = None) -> RunTask:
    """The run of ``cell`` (data and run axes, normalised) at seed index ``i``."""
    ids = claim_ids(spec, cell["method"])
    if not judge_data:
        ids = tuple(c for c in ids if REGISTRY[c].kind != "data")
    params = {**cell, "seed_index": i, "claims": list(ids), "plugins": list(spec.plugins),
              "problem_seed": stable_int("problem", spec.seed, i) if problem_seed is None else problem_seed,
              "init_seed": stable_int("init", spec.seed, i) if init_seed is None else init_seed}
    return RunTask(run_key(params), params)


def grid_tasks(spec: SweepSpec, data: list[dict], runs: list[dict]) -> Iterator[RunTask]:
    """Every run of the grid, lazily, seed index outermost (a partial sweep covers every cell),
    then data cells, then run cells; the first run cell with each loss judges the data claims."""
    owner = {}
    for j, rc in enumerate(runs):
        owner.setdefault(rc["loss"], j)
    for i in range(spec.seeds):
        for dc in data:
            for j, rc in enumerate(runs):
                yield make_task(spec, normalise({**dc, **rc}), i, judge_data=owner[rc["loss"]] == j)


def grid_size(spec: SweepSpec, data: list[dict], runs: list[dict]) -> int:
    """How many runs the grid has (before the budget)."""
    return spec.seeds * len(data) * len(runs)
