"""The problem of a sweep run: a pure function of its data axes and its problem seed."""

from __future__ import annotations

import inspect

from aligncheck.data.edge_cases import BUILDERS, build_edge_case
from aligncheck.data.planted import PlantedProblem, planted_case, planted_problem
from aligncheck.data.problem import Problem

# The axes an edge-case builder may take (each builder takes the ones its signature names).
EDGE_AXES = ("d", "n", "gamma")


def build_problem(params: dict, *, solve: bool = True) -> Problem | PlantedProblem:
    """The problem of a run's params: a planted problem (``solve=False``: the PlantedProblem itself,
    without solving its max margin) or an edge case built from the axes its builder takes."""
    seed = int(params["problem_seed"])
    if params["case"] == "planted":
        data_rank = params["d"] if params["sv"] == "partial" else params["sv_rank"]
        pp = planted_problem(seed, n=params["n"], d=params["d"], gamma=params["gamma"], n_sv=params["n_sv"],
                             sv_rank=params["sv_rank"], data_rank=data_rank)
        return planted_case(pp) if solve else pp
    takes = inspect.signature(BUILDERS[params["case"]]).parameters
    kw = {a: params[a] for a in EDGE_AXES if a in takes and params.get(a) is not None}
    return build_edge_case(params["case"], seed, **kw).problem
