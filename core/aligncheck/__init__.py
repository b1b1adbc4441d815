"""aligncheck: a theorem-checking harness for Ji & Telgarsky, "Gradient descent aligns the layers of
deep linear networks" (ICLR 2019), and for Soudry et al. (2018), "The implicit bias of gradient
descent on separable data".

The public API, in the order a session uses it::

    import aligncheck as ac

    problem = ac.load_problem("data.npz")             # or ac.Problem.from_arrays(X, y)
    problem.max_margin.u_bar, problem.max_margin.gamma  # ū and γ, certified
    outcome = ac.run_checked(problem, ac.RunSpec(depth=3, loss="exp"))
    for v in outcome.verdicts:
        print(v.claim, v.status.value, v.reason)

    traj = ac.trajectory(problem, my_iterates, loss="logistic", step=0.1)  # one's own GD
    ac.check(problem, traj)                            # every GD claim, judged on it
    ac.plot_run(outcome, "run.png")                    # the run behind the verdicts (PNG or SVG)
    ac.plot_claim(outcome, "gf.rank_one", "rank_one.svg")  # one claim's panel alone

    rec = ac.Recorder(); rec.record(outcome.verdicts, seed=0, init_seed=0, replay="")
    rec.as_json()                                      # the report of a session

``ac.claims()`` lists every registered claim (id, statement, source, kind, needs).
"""

from importlib.metadata import PackageNotFoundError, version

from aligncheck.claims.registry import REGISTRY, Claim
from aligncheck.claims.verdicts import Status, Verdict
from aligncheck.data.maxmargin import MaxMargin, max_margin
from aligncheck.data.problem import Problem, load_problem
from aligncheck.dynamics.spec import RunSpec, run
from aligncheck.dynamics.trajectory import Checkpoint, Trajectory
from aligncheck.errors import NotSeparableError, ProblemError
from aligncheck.harness.api import check, trajectory
from aligncheck.harness.plot_run import plot_claim, plot_run
from aligncheck.harness.report import Recorder
from aligncheck.harness.runner import RunOutcome, run_checked

try:
    __version__ = version("aligncheck")
except PackageNotFoundError:  # not installed (a checkout on sys.path)
    __version__ = "0+unknown"


def claims() -> list[Claim]:
    """Every registered claim, in registry (report) order."""
    return list(REGISTRY.values())


__all__ = [
    "Checkpoint", "Claim", "MaxMargin", "NotSeparableError", "Problem", "ProblemError", "Recorder", "RunOutcome",
    "RunSpec", "Status", "Trajectory", "Verdict", "check", "claims", "load_problem", "max_margin", "plot_claim", "plot_run", "run",
    "run_checked", "trajectory", "__version__",
]
