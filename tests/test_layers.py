"""Imports point down only (the README's "Architecture" table), and there is no import cycle.

Every ``import`` and ``from ... import`` of ``components`` / ``pipelines`` modules is read from
the source (function-local ones too) and checked against the layer table below; the check is
run once on a made-up wrong-way import to show that it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lower layers first; a module may import its own layer's modules (its own step's only, for
# steps) and any lower layer. Shared pieces are the bottom; steps talk through contracts.
SHARED = ("components", "components.errors", "components.config", "components.freeze_spec",
          "components.keras", "components.storage", "components.pinned_wheels",
          "components.images", "components.contracts", "components.progress",
          "components.gcs")
DOMAIN = ("components.text", "components.model")
STEPS = ("components.encoders", "components.preprocess", "components.train",
         "components.evaluate", "components.export")
TOP = ("pipelines",)


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the unit that may import itself) of a module name."""
    if module in SHARED:
        return 0, module
    for index, prefixes in ((1, DOMAIN), (2, STEPS), (3, TOP)):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return index, prefix
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str) -> set[str]:
    """Project modules ``source`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in ("components", "pipelines")
            and name != module}


def project_graph(extra: dict[str, str] | None = None) -> dict[str, set[str]]:
    """module -> the project modules it imports (only names that are modules)."""
    sources = {module_name(p): p.read_text() for top in ("components", "pipelines")
               for p in (ROOT / top).rglob("*.py")}
    sources.update(extra or {})
    return {m: {i for i in imports_of(src, m) if i in sources} for m, src in sources.items()}


def violations(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in sorted(graph.items()):
        layer, unit = layer_of(module)
        for target in sorted(imported):
            target_layer, target_unit = layer_of(target)
            if target_layer > layer or (target_layer == layer and layer == 2
                                        and target_unit != unit):
                wrong.append(f"{module} -> {target}")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_imports_point_down_only():
    assert violations(project_graph()) == []


def test_no_import_cycle():
    # Package __init__ modules import nothing of the project, so module cycles are real ones.
    assert cycles(project_graph()) == []


def test_a_wrong_way_import_is_caught():
    """A step importing another step, a shared piece importing a step, and a cycle are all
    reported (the check is not vacuous)."""
    extra = {
        "components.export.sneaky": "from components.train.trainer import run_train\n",
        "components.contracts": (ROOT / "components/contracts.py").read_text()
        + "\nfrom components.evaluate import blessing\n",
    }
    graph = project_graph(extra)
    found = violations(graph)
    assert "components.export.sneaky -> components.train.trainer" in found
    assert "components.contracts -> components.evaluate.blessing" in found
    graph["components.errors"] = graph["components.errors"] | {"components.config"}
    assert cycles(graph)
