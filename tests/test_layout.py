"""The layout rules of docs/architecture.md, read from the source: small modules, short functions.

A module over 450 lines or a function over 80 has outgrown one idea; split it along its section
comments (migrations aside: they are history, not design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import cityhub

ROOT = Path(cityhub.__file__).parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if "migrations" not in p.parts]


def test_no_module_passes_450_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for path in _modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_passes_80_lines() -> None:
    long = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_the_rules_see_the_whole_package() -> None:
    # Guard against a rule that passes because it reads nothing.
    names = {p.name for p in _modules()}
    assert {"app.py", "uow.py", "flows.py"} <= names
    assert len(names) > 50
