"""Progress of a long run, for whoever listens: the integrators report where they are at each
checkpoint (gradient flow) or mark (GD); the command line shows it on a terminal.

Nothing is computed for a report unless a listener is installed (:func:`listening`), so a run
without one does exactly what it did before, bit for bit and evaluation for evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where a run is: ``time`` is the log-norm time s (gradient flow) or the step t (GD);
    ``log_norm`` = log ‖θ‖ (all layers' entries), ``log_risk`` = log R, ``evals`` the gradient
    evaluations so far, ``bits`` the working precision of a high-precision run (None in float64)."""

    method: str
    backend: str
    time: float
    log_norm: float
    log_risk: float
    evals: int
    bits: int | None = None


_LISTENER: ContextVar[Callable[[Progress], None] | None] = ContextVar("aligncheck_progress", default=None)


@contextmanager
def listening(callback: Callable[[Progress], None]) -> Iterator[None]:
    """Within the block, every report of a run in this context goes to ``callback``."""
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def active() -> bool:
    """True when a listener is installed (callers build a Progress only then)."""
    return _LISTENER.get() is not None


def report(make: Callable[[], Progress]) -> None:
    """Send ``make()`` to the listener, if there is one (``make`` is not called otherwise)."""
    callback = _LISTENER.get()
    if callback is not None:
        callback(make())
