"""The operator CLI stays small: no developer tooling in its dependencies or its imports.

`up` and `bench` reach it through the `orderflow.commands` entry points of orderflow-devtools, so
the dependency points from the developer tools to the CLI, never back.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
CLI: Final = ROOT / "cli"
FORBIDDEN_DISTRIBUTIONS: Final = {
    "moto",
    "aiohttp",
    "orjson",
    "matplotlib",
    "orderflow-devtools",
    "orderflow-testkit",
}
FORBIDDEN_MODULES: Final = {
    "moto",
    "aiohttp",
    "orjson",
    "matplotlib",
    "orderflow_devtools",
    "orderflow_testkit",
}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def test_the_operator_cli_declares_no_developer_tooling() -> None:
    project = tomllib.loads((CLI / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        declared.extend(extra)
    assert {_name(r) for r in declared} & FORBIDDEN_DISTRIBUTIONS == set()


def test_the_operator_cli_imports_no_developer_tooling() -> None:
    offenders = []
    for path in sorted((CLI / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in FORBIDDEN_MODULES
            ]
    assert offenders == []
