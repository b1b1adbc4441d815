"""The hypothesis profiles: a derandomized profile draws the same examples whatever local code is loaded."""

from __future__ import annotations

import importlib
import sys

import pytest

from hypothesis import given, seed, settings
from hypothesis import strategies as st

from aligncheck.harness import profiles

# A constant no strategy below would draw by chance: hypothesis mines it from any loaded local module.
# The strategies draw from a range around it that holds no other mined or built-in constant, so a
# mined constant, when hypothesis uses one (~5 % of draws), is this one.
MARKER = 918_273_645
NEAR = st.integers(min_value=MARKER - 10**6, max_value=MARKER + 10**6)


def _draws(tag: str) -> list[int]:
    seen: list[int] = []

    @seed(20261207)
    @settings(max_examples=300, derandomize=True, database=None)
    @given(NEAR)
    def draw(x: int) -> None:
        seen.append(x)

    draw._hypothesis_internal_add_digest = tag.encode()
    draw()
    return seen


def _load_module_with_marker(tmp_path, name: str) -> None:
    (tmp_path / f"{name}.py").write_text(f"LIMIT = {MARKER}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def profile():
    """``profile(name)`` loads a registered profile; the session's is restored afterwards."""
    profiles.register(None)  # idempotent: the plugin registered the profiles already
    previous = settings.get_current_profile_name()
    yield settings.load_profile
    settings.load_profile(previous)


def test_derandomized_examples_do_not_depend_on_the_loaded_modules(tmp_path, monkeypatch, profile):
    monkeypatch.chdir(tmp_path)  # hypothesis counts modules under the working directory as local
    profile("ci")
    before = _draws("a")
    _load_module_with_marker(tmp_path, "aligncheck_profiles_marker_a")
    after = _draws("a")
    assert before == after
    assert MARKER not in after


def test_random_profiles_still_mine_local_constants(tmp_path, monkeypatch, profile):
    # The control: without derandomization hypothesis does draw the mined constant (300 draws, each
    # the constant with probability ~5 %: ~15 expected; none is a chance of ~2e-7).
    monkeypatch.chdir(tmp_path)
    _load_module_with_marker(tmp_path, "aligncheck_profiles_marker_b")
    profile("dev")
    hits: list[bool] = []

    @settings(max_examples=300, database=None)
    @given(NEAR)
    def draw(x: int) -> None:
        hits.append(x == MARKER)

    draw()
    assert any(hits)


def test_registering_under_ci_leaves_the_random_profiles_random(profile):
    profile("ci")
    profiles.register(None)
    assert settings.get_profile("ci").derandomize
    assert not any(settings.get_profile(p).derandomize for p in ("dev", "thorough", "campaign"))
