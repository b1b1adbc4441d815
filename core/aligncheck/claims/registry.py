"""The claim registry: every claim aligncheck checks, registered once, where it is defined.

A claim is a predicate from a recorded run (:class:`aligncheck.claims.check.RunRecord`) to a
:class:`aligncheck.claims.verdicts.Verdict`, registered with the :func:`claim` decorator, which
carries its id (the catalogue's), statement, source in the paper, kind, the assumptions it needs,
the methods it is about, the paper it belongs to and the group of claims it is checked with (a
theorem, a lemma: one conjecture module per group). :func:`twin` builds a claim from another
claim's predicate (the GD version of a gradient-flow limit). The registry's order is the order
of registration, which is the report's order.

To add a theorem: a package under aligncheck.claims (see aligncheck/claims/soudry/) whose modules
register their claims with :func:`claim`, imported in aligncheck/claims/__init__.py; its
conjecture module selects them with :func:`ids`; the report gives its paper a section of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("limit", "exact", "bound", "identity", "data", "eventual", "conjecture")


@dataclass(frozen=True)
class Claim:
    """One claim: ``predicate(run) -> Verdict``. ``kind``: one of KINDS. ``needs``: assumption ids
    (aligncheck.claims.assumptions.ASSUMPTIONS) that must hold for the claim to apply. ``methods``:
    "gf" and/or "gd". ``worse``: which end of the measured values is the worst, "max" (a gap) or
    "min" (a margin). ``paper``: the paper's key in PAPERS; ``group``: the claims checked together.
    ``series``: ``series(run) -> list`` of the :class:`aligncheck.claims.verdicts.LimitSeries` or
    ``BoundSeries`` the predicate judges on that run (one per layer or pair; [] where it judges
    none, e.g. true by construction), or None for a claim that exposes none; the plots draw them.
    ``rate``: for a claim whose verdicts carry a decay exponent, the exponent expected and its
    source, in words (the number itself travels on each verdict: it may depend on the run)."""

    id: str
    statement: str
    source: str
    kind: str
    needs: tuple[str, ...]
    methods: tuple[str, ...]
    predicate: Callable
    paper: str
    group: str
    worse: str = "max"
    series: Callable | None = None
    rate: str = ""


@dataclass(frozen=True)
class Paper:
    """A paper whose claims are registered: its key, citation, and what the report says of it."""

    key: str
    citation: str
    title: str


REGISTRY: dict[str, Claim] = {}
PAPERS: dict[str, Paper] = {}
_BY_PREDICATE: dict[Callable, Claim] = {}


def register_paper(key: str, citation: str, title: str) -> Paper:
    """Register a paper (once per key) and return it."""
    if key in PAPERS and PAPERS[key] != Paper(key, citation, title):
        raise ValueError(f"paper {key!r} registered twice with different details")
    return PAPERS.setdefault(key, Paper(key, citation, title))


def register(c: Claim) -> Claim:
    """Add ``c`` to the registry (its id must be new, its paper registered, its kind known)."""
    if c.id in REGISTRY:
        raise ValueError(f"claim {c.id!r} registered twice")
    if c.paper not in PAPERS:
        raise ValueError(f"claim {c.id!r}: paper {c.paper!r} is not registered")
    if c.kind not in KINDS or c.worse not in ("max", "min") or not set(c.methods) <= {"gf", "gd"}:
        raise ValueError(f"claim {c.id!r}: kind {c.kind!r}, worse {c.worse!r}, methods {c.methods!r}")
    REGISTRY[c.id] = c
    _BY_PREDICATE.setdefault(c.predicate, c)
    return c


def claim(id: str, *, statement: str, source: str, kind: str, paper: str, group: str, needs: tuple[str, ...] = (),
          methods: tuple[str, ...] = ("gf",), worse: str = "max", series: Callable | None = None, rate: str = "") -> Callable[[Callable], Callable]:
    """Decorator: register the decorated predicate as the claim ``id`` (and return it unchanged);
    ``series`` and ``rate``: see :class:`Claim`."""

    def decorate(predicate: Callable) -> Callable:
        register(Claim(id, statement, source, kind, tuple(needs), tuple(methods), predicate, paper, group, worse, series, rate))
        return predicate

    return decorate


def claim_of(predicate: Callable) -> Claim:
    """The claim registered for ``predicate``."""
    return _BY_PREDICATE[predicate]


def twin(of: Callable, id: str, predicate: Callable, **changes) -> Claim:
    """Register ``id`` as a version of the claim of ``of`` judged by ``predicate``: statement, kind,
    worse and paper are the original's unless ``changes`` say otherwise; ``series`` only if given
    (the original's reads the run as the original predicate does, which the twin may not)."""
    base = claim_of(of)
    fields = dict(statement=base.statement, source=base.source, kind=base.kind, needs=base.needs, methods=base.methods,
                  paper=base.paper, group=base.group, worse=base.worse)
    fields.update(changes)
    return register(Claim(id, predicate=predicate, **fields))


def ids(*, group: str | None = None, paper: str | None = None, kind: str | None = None, method: str | None = None) -> tuple[str, ...]:
    """Registered claim ids, in registry order, matching every filter given."""
    return tuple(c.id for c in REGISTRY.values()
                 if (group is None or c.group == group) and (paper is None or c.paper == paper)
                 and (kind is None or c.kind == kind) and (method is None or method in c.methods))
