"""Hypothesis profiles shared by tests/ and conjectures/.

- ``ci`` (default, and what CI uses): derandomized, no example database, no deadline, a
  budget that keeps the default suite within minutes on a 2-core machine;
- ``dev``: random exploration with a small budget (new seeds every run);
- ``thorough``: long sweeps (hundreds of examples per property; not run by CI).

Choose with ``pytest --hypothesis-profile=NAME`` or the HYPOTHESIS_PROFILE variable.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def register() -> None:
    settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=120, suppress_health_check=_SLOW, print_blob=True)
    settings.register_profile("dev", deadline=None, max_examples=8, suppress_health_check=_SLOW, print_blob=True)
    settings.register_profile("thorough", deadline=None, max_examples=200, suppress_health_check=_SLOW, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
