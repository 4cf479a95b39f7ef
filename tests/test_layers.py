"""The dependency direction of DESIGN.md holds, checked on the source by `ast`.

    kiosk/, terminal/ --> device runtime --> protocol --> domain
    hub/ ---------------------------------> protocol --> domain

Scenario: an engineer adds `import sqlalchemy` to a domain module, or lets the hub
import the device runtime "just for one helper". This test reads every import
statement (also the lazy ones inside functions, and `importlib.import_module("...")`
with a literal name) of every package and fails with file:line of each import that
points the wrong way: the domain imports no protocol, runtime, program, I/O or
database module; the protocol no paho, SQL or program; the hub never a device
program or the device runtime; Kivy only in kiosk/ and terminal/.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROGRAMS = ("hub", "kiosk", "terminal")
DATABASES = ("sqlalchemy", "sqlite3", "psycopg", "alembic", "tinydb")
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


@pytest.mark.parametrize("rule", RULES, ids=[r.package for r in RULES])
def test_imports_point_the_right_way(rule: Rule) -> None:
    found = violations(rule)
    assert not found, "imports against the dependency direction:\n" + "\n".join(found)


@pytest.mark.parametrize("package", ["tapcard/domain", "tapcard/wire", "tapcard/device", "hub"])
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
