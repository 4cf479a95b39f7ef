"""No function over 70 lines and no module over 500 lines, checked on the source by `ast`.

Scenario: an engineer adds one more branch to a long dispatch function, or one more
command to a module that already does too much. This test measures every function
(methods and nested functions too, from its `def` to its last line) and every module
of the shared packages, the programs and the composition root, and fails with the
offenders. The migrations are left out: each is one generated, append-only script.
The exceptions are listed below with their reason, and a second test fails as soon as
one is back under the limit, so the list cannot outlive its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PACKAGES = ("tapcard", "hub", "kiosk", "terminal", "launcher")
SKIPPED = ("hub/migrations",)  # generated, append-only: see the module docstring
FUNCTION_LINES_MAX = 70
MODULE_LINES_MAX = 500
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)

# `path` for a module, `path::qualified.name` for a function: why it may be longer.
EXCEPTIONS: dict[str, str] = {}


def sizes(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, int]:
    """Lines of every module (`path`) and function (`path::qualified.name`)."""
    found: dict[str, int] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where.startswith(SKIPPED):
                continue
            text = path.read_text()
            found[where] = len(text.splitlines())
            for name, lines in _function_lines(ast.parse(text, filename=where)):
                found[f"{where}::{name}"] = lines
    return found


def _function_lines(tree: ast.Module) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function, nested ones and methods included."""
    found: list[tuple[str, int]] = []
    todo: list[tuple[str, ast.AST]] = [("", tree)]
    while todo:
        prefix, node = todo.pop()
        for child in ast.iter_child_nodes(node):
            scope = prefix
            if isinstance(child, FUNCTIONS):
                end = child.end_lineno or child.lineno
                found.append((prefix + child.name, end - child.lineno + 1))
            if isinstance(child, (*FUNCTIONS, ast.ClassDef)):
                scope = f"{prefix}{child.name}."
            todo.append((scope, child))
    return sorted(found)


def over_limit(found: dict[str, int]) -> dict[str, int]:
    return {
        where: lines
        for where, lines in found.items()
        if lines > (FUNCTION_LINES_MAX if "::" in where else MODULE_LINES_MAX)
    }


def test_functions_and_modules_stay_short() -> None:
    offenders = {k: v for k, v in over_limit(sizes()).items() if k not in EXCEPTIONS}
    assert not offenders, (
        f"over {FUNCTION_LINES_MAX} lines a function or {MODULE_LINES_MAX} a module "
        "(split it, or list it in EXCEPTIONS with the reason):\n"
        + "\n".join(f"{where}: {lines} lines" for where, lines in sorted(offenders.items()))
    )


def stale_exceptions(found: dict[str, int], exceptions: dict[str, str]) -> list[str]:
    """Listed exceptions that are gone, back within the limit, or have no reason."""
    over = over_limit(found)
    stale = []
    for where, reason in sorted(exceptions.items()):
        if where not in found:
            stale.append(f"{where} no longer exists: remove it from EXCEPTIONS")
        elif where not in over:
            stale.append(f"{where} is {found[where]} lines, within the limit: remove it")
        elif not reason.strip():
            stale.append(f"{where} needs a reason")
    return stale


def test_every_exception_is_still_needed() -> None:
    stale = stale_exceptions(sizes(), EXCEPTIONS)
    assert not stale, "\n".join(stale)


def test_a_stale_exception_is_reported() -> None:
    found = {"a.py": 600, "b.py": 10, "a.py::f": 80}
    listed = {"a.py": "generated", "b.py": "was long", "gone.py": "moved", "a.py::f": " "}
    assert stale_exceptions(found, listed) == [
        "a.py::f needs a reason",
        "b.py is 10 lines, within the limit: remove it",
        "gone.py no longer exists: remove it from EXCEPTIONS",
    ]


def test_measures_modules_methods_and_nested_functions(tmp_path: Path) -> None:
    """The measure itself works, on a planted package."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(FUNCTION_LINES_MAX))
    (pkg / "long.py").write_text(
        f"def top():\n{body}\n"
        "class Box:\n"
        "    async def method(self):\n"
        "        def inner():\n"
        "            return 1\n"
        "        return inner\n"
    )
    (pkg / "big.py").write_text("x = 1\n" * (MODULE_LINES_MAX + 1))
    found = sizes(tmp_path, ("pkg",))
    assert found["pkg/long.py::top"] == FUNCTION_LINES_MAX + 1
    assert found["pkg/long.py::Box.method"] == 4
    assert found["pkg/long.py::Box.method.inner"] == 2
    assert over_limit(found) == {"pkg/long.py::top": 71, "pkg/big.py": 501}
