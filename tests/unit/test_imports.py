"""The package's import picture: the pipeline in layers, each importing only the layers below
it (lazy imports inside functions included); the OLTP stand-in and the local tooling beside
it, imported only by the CLI; the DAG files import the pipeline alone.

``python -m tests.unit.test_imports`` prints the picture.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"finhouse": REPO / "airflow" / "plugins", "finhouse_local": REPO / "local"}
#: the layers, bottom first: (name, module prefixes)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "finhouse.errors",
            "finhouse.connections",
            "finhouse.progress",
            "finhouse.compare",
            "finhouse.drift",
            "finhouse.pgsql",
            "finhouse.housekeeping",
        ),
    ),
    ("source stand-in", ("finhouse.oltp",)),
    ("settings", ("finhouse.settings",)),
    ("config", ("finhouse.config", "finhouse.tables")),
    ("state", ("finhouse.state",)),
    ("extract", ("finhouse.extract",)),
    ("load", ("finhouse.targets",)),
    (
        "pipeline",
        (
            "finhouse.pipeline",
            "finhouse.cut",
            "finhouse.quality",
            "finhouse.exports",
            "finhouse.closes",
            "finhouse.report_pack",
            "finhouse.ml",
            "finhouse.files",
            "finhouse.endpoints",
            "finhouse.reporting",
        ),
    ),
    ("orchestration", ("finhouse.orchestration",)),
    ("local tooling", ("finhouse_local",)),
    ("CLI", ("finhouse.cli", "finhouse.__main__")),
]
#: what may import the layers that sit beside the pipeline rather than under it
ONLY_FROM = {
    "source stand-in": {"source stand-in", "CLI"},
    "local tooling": {"local tooling", "CLI"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package, root in ROOTS.items():
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The finhouse modules ``path`` imports anywhere in it (``from finhouse import config``
    is finhouse.config)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in known
                else node.module
                for alias in node.names
            }
    return {name for name in found if name.split(".")[0] in ROOTS}


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix naming ``module``."""
    if module == "finhouse":  # the package's __init__: its docstring and version
        return 0
    best = max(
        (
            (len(prefix), index)
            for index, (_name, prefixes) in enumerate(LAYERS)
            for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")
        ),
        default=None,
    )
    assert best is not None, f"{module} is in no layer of tests/unit/test_imports.py"
    return best[1]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(path, set(known)) for module, path in known.items()}


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_stand_in_and_the_local_tooling_are_imported_by_the_cli_only() -> None:
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            side = LAYERS[layer_of(target)][0]
            if side in ONLY_FROM and LAYERS[layer_of(module)][0] not in ONLY_FROM[side]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_dag_files_import_the_pipeline_only() -> None:
    known = set(modules())
    for path in sorted((REPO / "airflow" / "dags").glob("*.py")):
        for target in imports_of(path, known):
            layer = LAYERS[layer_of(target)][0]
            assert layer not in ("source stand-in", "local tooling", "CLI"), (path.name, target)


def picture() -> str:
    """Each layer, bottom last, with the layers its modules import."""
    edges: dict[int, set[int]] = defaultdict(set)
    members: dict[int, list[str]] = defaultdict(list)
    for module, targets in graph().items():
        members[layer_of(module)].append(module)
        edges[layer_of(module)] |= {layer_of(t) for t in targets} - {layer_of(module)}
    lines = []
    for index in reversed(range(len(LAYERS))):
        name = LAYERS[index][0]
        below = ", ".join(LAYERS[i][0] for i in sorted(edges[index], reverse=True)) or "-"
        lines.append(f"{name:<16} imports: {below}")
        lines.append(f"{'':<16} {' '.join(sorted(members[index]))}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(picture())
