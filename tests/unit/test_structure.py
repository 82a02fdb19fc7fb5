"""The house rules a reviewer would otherwise check by hand, read from the source with ``ast``:
no module over 500 lines, no class over 300, no function over 60 (the migrations' DDL aside),
SQL statements only under ``workbench/store/``, no import cycle among ``workbench`` modules.

Each rule is checked on the real tree and, so that the check itself can fail, on a small tree
made to break it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"
MODULE_LINES, CLASS_LINES, FUNCTION_LINES = 500, 300, 60
# A migration is a named function of DDL, one per schema change: long by nature, read once.
MIGRATIONS = {"store/migrations.py", "store/postgres/migrations.py"}
MIGRATION_NAME = re.compile(r"(m|pg)\d{3}_\w+$")
SQL = re.compile(
    r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|CREATE\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+)?(TABLE|INDEX|VIEW|SEQUENCE|UNIQUE\s+INDEX)\s"
    r"|ALTER\s+TABLE\s|DROP\s+(TABLE|INDEX|VIEW)\s|WITH\s+\w+\s+AS\s*\()",
    re.S,
)


def modules(root: Path) -> dict[str, tuple[Path, ast.Module]]:
    """Every module under ``root`` by dotted name (``root``'s folder name first)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    return found


def sizes(root: Path) -> list[str]:
    problems = []
    for name, (path, tree) in modules(root).items():
        relative = path.relative_to(root).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MODULE_LINES:
            problems.append(f"{relative}: module of {lines} lines")
        for node in ast.walk(tree):
            span = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef) and span > CLASS_LINES:
                problems.append(f"{relative}: class {node.name} of {span} lines")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and span > FUNCTION_LINES:
                if not (relative in MIGRATIONS and MIGRATION_NAME.match(node.name)):
                    problems.append(f"{relative}: function {node.name} of {span} lines")
    return problems


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's literal parts with each value as ``x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    return None


def sql_outside_store(root: Path) -> list[str]:
    problems = []
    for name, (path, tree) in modules(root).items():
        relative = path.relative_to(root).as_posix()
        if relative.startswith("store/"):
            continue
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = None if id(node) in parts else _text(node)
            if text is not None and SQL.match(text):
                problems.append(f"{relative}:{node.lineno}: SQL {text.strip()[:40]!r}")
    return problems


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import statements, those under ``if TYPE_CHECKING:`` left out (never executed)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports, at module level or inside a function."""
    found = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, (path, tree) in found.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in found else base
                           for alias in node.names]
            graph[name] |= {t for t in targets if t in found and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_class_or_function_over_its_limit():
    assert sizes(PACKAGE) == []


def test_sql_only_under_store():
    assert sql_outside_store(PACKAGE) == []


def test_no_import_cycle():
    assert cycles(import_graph(PACKAGE)) == []


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A package breaking every rule once."""
    root = tmp_path / "pkg"
    (root / "store").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "store" / "__init__.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (root / "store" / "migrations.py").write_text(f"def m001_first():\n{body}\n")
    (root / "long.py").write_text(f"def long():\n{body}\n" + "\n" * MODULE_LINES)
    methods = "\n".join(f"    def f{i}(self):\n        return {i}\n" for i in range(CLASS_LINES // 3 + 1))
    (root / "big.py").write_text(f"class Big:\n{methods}\n")
    (root / "query.py").write_text(
        "from pkg.cycle import b\n\n"
        "def rows(con, table):\n"
        "    return con.execute(f'SELECT id FROM {table} WHERE x = ?').fetchall()\n")
    (root / "cycle.py").write_text("from typing import TYPE_CHECKING\n\n"
                                   "if TYPE_CHECKING:\n    from pkg import big\n\n"
                                   "def b():\n    from pkg import query\n")
    (root / "store" / "ok.py").write_text("SQL = 'DELETE FROM chunks WHERE id = ?'\n")
    return root


def test_the_checks_fail_on_a_tree_that_breaks_the_rules(broken: Path):
    assert sorted(sizes(broken)) == [
        f"big.py: class Big of {3 * (CLASS_LINES // 3 + 1)} lines",
        f"long.py: function long of {FUNCTION_LINES + 1} lines",
        f"long.py: module of {FUNCTION_LINES + 1 + MODULE_LINES} lines",
    ]
    assert sql_outside_store(broken) == ["query.py:4: SQL 'SELECT id FROM x WHERE x = ?'"]
    assert cycles(import_graph(broken)) == [["pkg.cycle", "pkg.query"]]
