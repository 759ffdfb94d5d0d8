"""The package layering of docs/architecture.md, enforced on the source.

Every ``fusionrec`` import in every module (at module level and inside functions) must point
at the module's own package or at one it may depend on. ``cli`` sits on top and may import
anything; ``config`` may reach ``models`` only inside a function, to check ``model.params``
against the model's schema when a config is validated, so that importing it stays cheap.
"""

from __future__ import annotations

import ast
import graphlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fusionrec"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

BASE = {"errors", "io", "progress"}
#: package -> the packages of ours it may import (its own package always allowed)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "io": {"errors"},
    "progress": set(),
    "data": BASE,
    "encoders": BASE | {"data"},
    "evaluate": BASE,
    "models": BASE | {"data"},
    "config": BASE | {"models"},
    "train": BASE | {"data", "encoders", "models", "evaluate", "config"},
    "tasks": BASE | {"data", "encoders", "models", "evaluate", "config", "train"},
    "api": BASE | {"data", "encoders", "models", "evaluate", "config", "train", "tasks"},
    "serve": BASE | {"data", "encoders", "models", "evaluate", "config", "train", "tasks", "api"},
}
#: allowed only inside a function body, never when the importing module is loaded
LAZY_ONLY: dict[str, set[str]] = {"config": {"models"}}
TOP = "cli"  # may import anything
PACKAGES = set(ALLOWED) | {TOP}


def package_of(path: Path, src: Path = SRC) -> str:
    """``<src>/train/trainer.py`` -> ``train``; ``<src>/config.py`` -> ``config``."""
    return path.relative_to(src).with_suffix("").parts[0]


def imported_packages(tree: ast.Module) -> list[tuple[str, int, bool]]:
    """``(package, line, at_load_time)`` for every import of ``fusionrec.<package>``; an
    import runs at load time unless it sits inside a function. Relative imports are reported
    as package ``"."`` so that they cannot hide a dependency."""
    in_functions = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            modules = ["fusionrec.."]
        elif isinstance(node, ast.ImportFrom) and node.module == "fusionrec":
            modules = [f"fusionrec.{alias.name}" for alias in node.names]  # from fusionrec import x
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            parts = module.split(".", 2)
            if parts[0] == "fusionrec" and len(parts) > 1:
                found.append((parts[1] or ".", node.lineno, id(node) not in in_functions))
    return found


def layering_violations(src: Path) -> list[str]:
    problems = []
    for path in sorted(src.rglob("*.py")):
        if path.parent == src and path.name == "__init__.py":
            continue  # the root package imports nothing of ours
        package = package_of(path, src)
        if package == TOP:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, line, at_load_time in imported_packages(tree):
            where = f"{path.relative_to(src.parent)}:{line}"
            if target == package:
                continue
            if target == ".":
                problems.append(f"{where}: relative import; import fusionrec.<package> by name")
                continue
            if target not in ALLOWED[package]:
                problems.append(f"{where}: {package} imports {target}")
            elif at_load_time and target in LAZY_ONLY.get(package, set()):
                problems.append(f"{where}: {package} imports {target} at module level")
    return problems


def test_every_package_is_in_the_table():
    """A new package must be placed in the layering before it can be imported."""
    on_disk = {package_of(p) for p in SRC.rglob("*.py") if p.parent != SRC or p.stem != "__init__"}
    assert on_disk == PACKAGES


def test_the_layering_has_no_cycle():
    graphlib.TopologicalSorter(ALLOWED).prepare()  # raises CycleError


def test_imports_follow_the_layering():
    assert layering_violations(SRC) == []


def test_the_checker_sees_function_level_and_from_package_imports(tmp_path):
    """The checker itself: a lazy upward import, ``from fusionrec import x`` and a relative
    import all count, and a module-level import inside ``if`` is still module level."""
    pkg = tmp_path / "fusionrec"
    (pkg / "evaluate").mkdir(parents=True)
    (pkg / "config.py").write_text(
        "from fusionrec.models import base\n"
        "try:\n    import fusionrec.models.mf\nexcept ImportError:\n    pass\n"
        "def ok():\n    from fusionrec.models import mf\n"
    )
    (pkg / "evaluate" / "x.py").write_text(
        "def f():\n    from fusionrec import data\n    import fusionrec.io\n"
        "if True:\n    from . import y\n"
    )
    assert layering_violations(pkg) == [
        "fusionrec/config.py:1: config imports models at module level",
        "fusionrec/config.py:3: config imports models at module level",
        "fusionrec/evaluate/x.py:2: evaluate imports data",
        "fusionrec/evaluate/x.py:5: relative import; import fusionrec.<package> by name",
    ]


def _documented_dependencies() -> dict[str, set[str]]:
    """The 'depends on' column of the architecture table, as sets of our package names."""
    rows: dict[str, set[str]] = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`fusionrec."):
            continue
        named = set(re.findall(r"\b[a-z]+\b", cells[1])) & PACKAGES
        for package in re.findall(r"`fusionrec\.([a-z]+)`", cells[0]):
            rows[package] = named
    return rows


def test_the_table_mirrors_docs_architecture():
    """The doc lists each package's dependencies; errors and io are open to all packages."""
    documented = _documented_dependencies()
    assert set(documented) == PACKAGES
    for package, allowed in ALLOWED.items():
        assert documented[package] - BASE - {package} == allowed - BASE, package


def test_importing_the_config_loads_neither_torch_nor_the_models():
    """Reading a config must stay cheap: the models (and torch) load only to check params."""
    code = "import fusionrec.config, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
