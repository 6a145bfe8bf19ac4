"""The layout's rules: one direction of imports, no cycles, small modules, each port written once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from model.services import SERVICES
from tests.helpers import REPO

LAYERS = {  # package -> the internal packages it may import
    "model": {"model"},
    "render": {"model", "render"},
    "components": {"model", "render", "components"},
    # On top: the operator tools (tools.mockrun drives the program through pulumi_adapter), the
    # benchmark, and the policy pack (its own virtualenv: the registry and the exposure rule only).
    "tools": {"model", "render", "components", "pulumi_adapter", "tools"},
    "bench": {"model", "tools"},
    "policy": {"model.services", "model.exposure"},
}
INTERNAL = ("model", "render", "components", "pulumi_adapter", "tools", "tests", "policy")
MAX_LINES = 600  # in ruff format's layout (pyproject.toml), which is taller than the hand-wrapped one was


def modules() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name: str, path: Path) -> set[str]:
    """Internal modules imported anywhere in the file (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in INTERNAL}


def test_no_layer_imports_a_layer_above_it():
    def allowed(package: str, imported: str) -> bool:
        return any(imported == a or imported.startswith(a + ".") for a in LAYERS[package])

    wrong = [
        (name, imported)
        for name, path in modules().items()
        for imported in imports_of(name, path)
        if not allowed(name.split(".")[0], imported)
    ]
    assert wrong == []


def test_there_is_no_import_cycle():
    mods = modules()
    graph = {name: {i for i in imports_of(name, path) if i in mods and i != name} for name, path in mods.items()}
    # A package's __init__ that imports its own submodules (a registry) is not a cycle of the layers.
    graph = {n: {i for i in deps if not (n.startswith(i + ".") and i != n)} for n, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt) :] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_the_model_is_pure_python_without_pulumi():
    """model/ is read by the tools, the policy pack and the tests without a Pulumi runtime."""
    found = []
    for path in (REPO / "model").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            found += [(path.name, n) for n in names if n.split(".")[0].startswith("pulumi")]
    assert found == []


def test_the_service_registry_needs_only_the_standard_library():
    """The policy pack imports it in a virtualenv of its own."""
    assert imports_of("model.services", REPO / "model" / "services.py") == set()


def test_no_module_of_the_program_is_over_600_lines():
    program = [p for name, p in modules().items() if name.split(".")[0] in ("model", "render", "components")]
    long = {str(p.relative_to(REPO)): n for p in program if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_components_hold_only_component_resources_and_their_builders():
    builders = {"containers", "credentials", "exporters", "hosts"}  # functions that build resources for them
    for path in (REPO / "components").glob("*.py"):
        if path.stem in builders | {"__init__"}:
            continue
        assert "(pulumi.ComponentResource)" in path.read_text(), path.name


# Written once in model/services.py; elsewhere outside tests only by deriving from it. The node
# containers' own base port is another fact that happens to share a number.
ALLOWED = {("model/topology.py", "NODE_HTTP_PORT_BASE = 8080")}


def test_each_service_port_is_written_once_outside_tests():
    ports = {
        p
        for s in SERVICES
        for p in (
            s.port,
            *(x.port for x in s.published),
            *(x.default for x in s.published),
            *([s.metrics.port] if s.metrics else []),
        )
    } - {0}
    sources = [
        p
        for p in REPO.rglob("*.py")
        if p.relative_to(REPO).parts[0] not in ("tests", "venv", "node_modules") and p != REPO / "model" / "services.py"
    ]
    found = []
    for path in sources:
        for line in path.read_text().splitlines():
            for port in ports:
                if (
                    re.search(rf"(?<![\w.]){port}(?![\w.])", line)
                    and (str(path.relative_to(REPO)), line.strip()) not in ALLOWED
                ):
                    found.append((str(path.relative_to(REPO)), port, line.strip()))
    assert found == []
