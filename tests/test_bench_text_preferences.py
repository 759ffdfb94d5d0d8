"""``benchmarks/bench_text_preferences.py``'s closing lines: a method is ahead of another on
test only when the paired interval over users excludes zero (one seed, one draw of items)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_text_preferences import paired_line  # noqa: E402


def test_ahead_only_beyond_chance():
    rng = np.random.default_rng(0)
    base = rng.random(500)
    noise = rng.normal(0, 0.01, (2, 500))
    per_user = {"a": base + 0.05 + noise[0], "b": base, "c": base + noise[1]}
    assert paired_line("a", "b", per_user).startswith("- a is ahead of b: +0.049")
    assert paired_line("b", "a", per_user).startswith("- b is behind a")
    assert "is not distinguishable from" in paired_line("c", "b", per_user)
