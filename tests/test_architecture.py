"""The floors of the house hold: no module imports a floor above its own, and the faces (CLI, UI, jobs)
go through the session. The contracts live in pyproject.toml ([tool.importlinter]); import-linter
checks them on the real import graph, type-checking imports aside."""

from __future__ import annotations

from pathlib import Path

import grimp
import tomllib
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _floors() -> list[grimp.Layer]:
    floors = next(c for c in CONTRACTS if c["type"] == "layers")["layers"]
    return [grimp.Layer(*(m.strip() for m in floor.replace("|", ":").split(":")), independent="|" in floor)
            for floor in floors]


def test_no_import_runs_up_a_floor_and_the_faces_call_only_the_session(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True) == 0


def test_an_import_from_a_lower_floor_to_a_higher_one_is_caught():
    graph = grimp.build_graph("workbench", "ui", exclude_type_checking_imports=True, cache_dir=None)
    upward = ("workbench.models", "workbench.session")
    assert upward not in {(d.importer, d.imported) for d in graph.find_illegal_dependencies_for_layers(layers=_floors())}
    graph.add_import(importer="workbench.models.pool", imported="workbench.session")
    assert upward in {(d.importer, d.imported) for d in graph.find_illegal_dependencies_for_layers(layers=_floors())}


def test_every_benchmark_imports_what_exists(monkeypatch):
    """The benchmarks are scripts no other test runs; a module or name they import that was moved or
    renamed should fail here, not when someone next measures."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as when run as scripts: they import each other
    for script in sorted((ROOT / "bench").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
