"""The dependency direction of DESIGN.md holds, checked on the source by `ast`.

    launcher/ (the `tapcard` command, the demo) --> hub/, kiosk/, terminal/
    kiosk/, terminal/ --> device runtime --> protocol --> domain
    hub/ ---------------------------------> protocol --> domain

Scenario: an engineer adds `import sqlalchemy` to a domain module, or lets the hub
import the device runtime "just for one helper", or lets a shared module reach up into
a program. This test reads every import statement (also the lazy ones inside functions,
and `importlib.import_module("...")` with a literal name) of every package and fails
with file:line of each import that points the wrong way: nothing under tapcard/ imports
a program or the composition root; the domain imports no protocol, runtime, program,
I/O or database module; the protocol no paho, SQL or program; the cards and readers no
runtime, UI, MQTT or database; the hub never a device program or the device runtime;
Kivy only in kiosk/ and terminal/; and nothing imports launcher/. It also fails on any
import cycle among the project's modules, reported as `a -> b -> a`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROGRAMS = ("hub", "kiosk", "terminal")
COMPOSITION_ROOT = "launcher"  # the `tapcard` command and the demo: above every program
PROJECT_PACKAGES = ("tapcard", *PROGRAMS, COMPOSITION_ROOT)
DATABASES = ("sqlalchemy", "sqlite3", "psycopg", "alembic", "tinydb")
MQTT = ("paho", "tapcard.mqtt")
CARD_LIBRARIES = ("smartcard", "nfc")
IO_MODULES = ("os", "io", "socket", "subprocess", "pathlib", "shutil", "tempfile", "select")
IO_MODULES += ("asyncio", "threading", "multiprocessing", "urllib", "http", "requests")


@dataclass(frozen=True)
class Rule:
    package: str  # a folder under the repository root
    forbidden: tuple[str, ...]  # module names; a name forbids its submodules too
    why: str
    exempt: tuple[str, ...] = ()  # files (relative to the root) the rule does not cover


RULES = (
    Rule(
        "tapcard",
        (*PROGRAMS, COMPOSITION_ROOT),
        "the shared packages are the base: they never import a program or the composition root",
    ),
    Rule(
        "tapcard/domain",
        (
            "tapcard.wire",
            "tapcard.device",
            "tapcard.readers",
            "tapcard.cards",
            *PROGRAMS,
            "paho",
            "nacl",
            "kivy",
            *DATABASES,
            *CARD_LIBRARIES,
            *IO_MODULES,
        ),
        "the domain is pure: no protocol, runtime, programs, crypto, database or I/O",
    ),
    Rule(
        "tapcard/wire",
        ("tapcard.device", "tapcard.readers", *PROGRAMS, "paho", "kivy", *DATABASES),
        "the protocol knows no MQTT client, database, runtime or program",
    ),
    Rule(
        "tapcard/cards",
        ("tapcard.device", "tapcard.ui", *PROGRAMS, "kivy", *MQTT, *DATABASES),
        "the card profile knows no device runtime, UI, program, MQTT or database",
    ),
    Rule(
        "tapcard/readers",
        ("tapcard.device", "tapcard.ui", *PROGRAMS, "kivy", *MQTT, *DATABASES),
        "the card readers know no device runtime, UI, program, MQTT or database",
    ),
    Rule(
        "tapcard/device",
        ("hub", "kiosk", "terminal", "kivy", "sqlalchemy", "psycopg", "alembic"),
        "the device runtime serves kiosk/ and terminal/ and never imports them or the hub",
    ),
    Rule(
        "hub",
        ("kiosk", "terminal", "tapcard.device", "tapcard.readers", "kivy"),
        "the hub and the devices never import each other",
    ),
    Rule("kiosk", ("hub", "terminal"), "the programs never import each other"),
    Rule("terminal", ("hub", "kiosk"), "the programs never import each other"),
    Rule(
        "tapcard/ui",
        ("hub", "kiosk", "terminal"),
        "the presenters serve both apps and never reach into the hub or one app",
    ),
    Rule(
        "tapcard",
        ("kivy",),
        "Kivy is imported only in kiosk/, terminal/ and their shared Kivy module",
        exempt=("tapcard/ui/kivyapp.py",),
    ),
    Rule(
        COMPOSITION_ROOT,
        ("kivy",),
        "Kivy is imported only in kiosk/, terminal/ and their shared Kivy module",
    ),
    *(
        Rule(package, (COMPOSITION_ROOT,), "the composition root is imported by nothing")
        for package in ("tapcard", *PROGRAMS)
    ),
)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(path: Path, root: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every module a file imports, with its line (lazy imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(path, root, node)
            found.append(Import(path, node.lineno, module))
            # `from tapcard import wire` imports tapcard.wire
            found += [Import(path, node.lineno, f"{module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(Import(path, node.lineno, first.value))
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__") and bool(node.args)


def _matches(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def violations(rule: Rule, root: Path = ROOT) -> list[str]:
    """`file:line: imports module (why)`, one per offending import statement."""
    bad: dict[tuple[str, int], str] = {}
    for path in sorted((root / rule.package).rglob("*.py")):
        where = str(path.relative_to(root))
        if where in rule.exempt:
            continue
        for imp in imports_of(path, root):
            if any(_matches(imp.module, f) for f in rule.forbidden):
                shortest = bad.get((where, imp.line), imp.module)
                bad[(where, imp.line)] = min(shortest, imp.module, key=len)
    return [f"{w}:{line}: imports {mod} ({rule.why})" for (w, line), mod in sorted(bad.items())]


# Cycles known and being removed, as `a -> b -> a` (empty: issue 12 removed the last ones).
CYCLES_BEING_REMOVED: tuple[str, ...] = ()

Graph = dict[str, set[str]]


def module_graph(root: Path = ROOT, packages: tuple[str, ...] = PROJECT_PACKAGES) -> Graph:
    """Each project module -> the project modules it imports (module level, lazy, dynamic)."""
    paths = {_module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}
    return {name: _edges(path, root, set(paths)) - {name} for name, path in paths.items()}


def _edges(path: Path, root: Path, modules: set[str]) -> set[str]:
    """`from x import y` is an edge to x.y when y is a module, else to x; `import a.b` and
    a literal `import_module("a.b")` to the deepest project module the name names."""
    found: set[str | None] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {_deepest(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, root, node)
            named = {f"{base}.{alias.name}" for alias in node.names}
            found |= named & modules
            if named - modules:  # a name defined in base itself
                found.add(_deepest(base, modules))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(_deepest(first.value, modules))
    return {module for module in found if module is not None}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`: such an import never runs, it is
    how a module names a type of a module that imports it (a cycle only for the checker)."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
    return name == "TYPE_CHECKING"


def _deepest(name: str, modules: set[str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if (prefix := ".".join(parts[:end])) in modules:
            return prefix
    return None


def _strongly_connected(graph: Graph) -> list[set[str]]:
    """Tarjan's algorithm: the groups of modules that can each reach one another."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _shortest_cycle(graph: Graph, start: str, group: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected group."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        ahead: list[str] = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    ahead.append(target)
        frontier = ahead
    raise AssertionError(f"{start} is on no cycle of its group")


def import_cycles(graph: Graph) -> list[str]:
    """Each cycle as `a -> b -> a`, starting at its least module: the shortest one through
    every module of every strongly connected group, so each such module is named."""
    found: set[str] = set()
    for group in _strongly_connected(graph):
        for start in sorted(group) if len(group) > 1 else ():
            cycle = _shortest_cycle(graph, start, group)[:-1]
            first = cycle.index(min(cycle))
            turned = cycle[first:] + cycle[:first]
            found.add(" -> ".join([*turned, turned[0]]))
    return sorted(found)


@pytest.mark.parametrize("rule", RULES, ids=[f"{r.package}:{r.forbidden[0]}" for r in RULES])
def test_imports_point_the_right_way(rule: Rule) -> None:
    found = violations(rule)
    assert not found, "imports against the dependency direction:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "package",
    [
        *("tapcard/domain", "tapcard/wire", "tapcard/cards", "tapcard/readers"),
        *("tapcard/device", "hub", COMPOSITION_ROOT),
    ],
)
def test_packages_that_the_rules_cover_exist(package: str) -> None:
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no Python files: update the layer rules"
    assert sum(len(imports_of(f)) for f in files) > 0


def test_checker_finds_lazy_relative_and_dynamic_imports(tmp_path: Path) -> None:
    """The checker itself works: a planted bad domain module is reported, line by line."""
    domain = tmp_path / "tapcard" / "domain"
    domain.mkdir(parents=True)
    (tmp_path / "tapcard" / "__init__.py").write_text("")
    (domain / "__init__.py").write_text("")
    (domain / "bad.py").write_text(
        "import os.path\n"
        "from .. import wire\n"
        "def f():\n"
        "    import sqlalchemy as sa\n"
        "    from ..device.intents import seal_intent\n"
        "    return __import__('socket')\n"
        "import importlib\n"
        "importlib.import_module('paho.mqtt.client')\n"
        "from tapcard.domain import model\n"
    )
    rule = next(r for r in RULES if r.package == "tapcard/domain")
    lines = [v.split(" (")[0] for v in violations(rule, tmp_path)]
    assert lines == [
        "tapcard/domain/bad.py:1: imports os.path",
        "tapcard/domain/bad.py:2: imports tapcard.wire",
        "tapcard/domain/bad.py:4: imports sqlalchemy",
        "tapcard/domain/bad.py:5: imports tapcard.device.intents",
        "tapcard/domain/bad.py:6: imports socket",
        "tapcard/domain/bad.py:8: imports paho.mqtt.client",
    ]


def test_no_import_cycles() -> None:
    """New cycles fail; a listed one that is gone fails too, so the list cannot go stale."""
    found = import_cycles(module_graph())
    new = [cycle for cycle in found if cycle not in CYCLES_BEING_REMOVED]
    assert not new, "import cycles among the project's modules:\n" + "\n".join(new)
    gone = [cycle for cycle in CYCLES_BEING_REMOVED if cycle not in found]
    assert not gone, "removed, so remove them from CYCLES_BEING_REMOVED:\n" + "\n".join(gone)


def test_the_graph_covers_every_project_package() -> None:
    graph = module_graph()
    for package in PROJECT_PACKAGES:
        assert package in graph, f"{package} is not in the module graph"
    assert "tapcard.wire.messages" in graph["launcher.demo"]  # `from tapcard.wire import messages`
    assert "launcher.demo_windows" in graph["launcher.demo"]  # a lazy import
    assert "hub.cli" in graph["launcher.cli"]  # lazy, `from hub import cli as hub_cli`


def test_cycle_finder_reports_planted_cycles(tmp_path: Path) -> None:
    """The finder itself works: lazy, relative, dynamic and submodule imports close cycles;
    a name imported from a package (not a module of it) is an edge to the package; an
    import only for the type checker is no edge."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.c import VALUE\n")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("VALUE = 1\nimport pkg.d\n")
    (pkg / "d.py").write_text("import importlib\nimportlib.import_module('pkg.e')\n")
    (pkg / "e.py").write_text("from pkg import VALUE\n")
    (pkg / "typed.py").write_text("from typing import TYPE_CHECKING\nimport pkg.fine\n")
    (pkg / "fine.py").write_text(
        "import pkg.a\nfrom pkg import c\nimport typing\nif typing.TYPE_CHECKING:\n"
        "    from pkg.typed import T\n"
    )
    graph = module_graph(tmp_path, ("pkg",))
    assert graph["pkg.fine"] == {"pkg.a", "pkg.c"}
    assert import_cycles(graph) == [
        "pkg -> pkg.c -> pkg.d -> pkg.e -> pkg",
        "pkg.a -> pkg.b -> pkg.a",
    ]
