"""The bench scripts stay runnable: named so none shadows a package, each with a smoke size that
`make bench-smoke` runs (the runs themselves are too slow for the suite: CI runs the target)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted((ROOT / "bench").glob("*.py"))
# Scripts of the train split that fit weights (bench/train/README.md): they run in the smoke too.
FITTERS = sorted((ROOT / "bench" / "train").glob("fit_*.py"))


def smoke_commands() -> list[str]:
    """The commands of `make bench-smoke`: its own recipe and its lanes' (bench-smoke-*)."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = re.findall(r"^bench-smoke(?:-[\w-]+)?:.*\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert recipes, "the Makefile has no bench-smoke target"
    return [line for recipe in recipes for line in recipe.splitlines()]


def test_bench_smoke_runs_every_lane():
    makefile = (ROOT / "Makefile").read_text()
    lanes = re.findall(r"^(bench-smoke-[\w-]+):", makefile, re.MULTILINE)
    assert len(lanes) >= 2
    recipe = re.search(r"^bench-smoke:.*\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert recipe and all(lane in recipe.group(1) for lane in lanes), "bench-smoke skips a lane"


def test_there_are_benches():
    assert len(BENCHES) >= 5


def test_no_bench_script_can_shadow_a_package():
    # Run as `python bench/X.py`, bench/ comes first on sys.path: X must not be the name of one of
    # the archive's packages or modules or of a standard library module (the bench_ prefix sees to it).
    ours = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() or p.suffix == ".py"}
    for path in BENCHES:
        assert path.stem.startswith("bench_"), f"{path.name}: bench scripts are named bench_*.py"
        assert path.stem not in ours and path.stem not in sys.stdlib_module_names, path.name


def test_every_bench_has_a_smoke_size_that_make_bench_smoke_runs():
    commands = smoke_commands()
    assert FITTERS
    for path in BENCHES + FITTERS:
        name = path.relative_to(ROOT).as_posix()
        assert '"--smoke"' in path.read_text(), f"{name} has no --smoke"
        assert any(f"{name} " in c and "--smoke" in c for c in commands), f"bench-smoke skips {name}"
