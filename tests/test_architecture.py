"""The packages import one another in one direction only (ARCHITECTURE.md says why).

contracts ← messaging ← servicekit ← services ← tools: a package may import those to its left,
never those to its right, and the two services never import each other. The operator CLI is a
tool that must stay small, so it never imports the developer tools or the test kit. Tests may
import anything. Every import counts, also one inside a function or under TYPE_CHECKING: a lazy
import of the wrong layer is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[1]

LAYERS: Final[dict[str, int]] = {
    "orderflow_contracts": 0,
    "orderflow_messaging": 1,
    "orderflow_servicekit": 2,
    "order_service": 3,
    "payment_service": 3,
    "orderflow_cli": 4,
    "orderflow_devtools": 4,
    "orderflow_testkit": 4,
}
"""Each first-party package's layer; a package imports only from lower layers (or itself)."""

TOOLS_LAYER: Final = 4

FORBIDDEN_FOR: Final[dict[str, frozenset[str]]] = {
    # What an operations host installs must not drag the developer tools in.
    "orderflow_cli": frozenset({"orderflow_devtools", "orderflow_testkit"}),
    # The test kit is a library: it may use the developer tools (engines, the process runner),
    # never the application on top of them.
    "orderflow_testkit": frozenset({"orderflow_cli"}),
}

LONG_MODULE_LINES: Final = 400
LONG_MODULE_REASON: Final = "Why this module is long:"


def package_dirs() -> dict[str, Path]:
    """Every first-party package's source folder (`<member>/src/<package>`)."""
    found = {
        init.parent.name: init.parent
        for init in ROOT.glob("*/**/src/*/__init__.py")
        if ".venv" not in init.parts and "node_modules" not in init.parts
    }
    return {name: path for name, path in found.items() if name in LAYERS}


def imported_packages(source: str) -> set[str]:
    """The top-level names of every absolute import in `source`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str, source: str) -> list[str]:
    """The first-party imports `package` may not make, as `package -> imported`."""
    layer = LAYERS[package]
    wrong = []
    for imported in sorted(imported_packages(source) & LAYERS.keys()):
        if imported == package:
            continue
        too_high = LAYERS[imported] >= layer and layer < TOOLS_LAYER
        if too_high or imported in FORBIDDEN_FOR.get(package, ()):
            wrong.append(f"{package} -> {imported}")
    return wrong


def production_modules() -> list[tuple[str, Path]]:
    return [
        (package, module)
        for package, folder in sorted(package_dirs().items())
        for module in sorted(folder.rglob("*.py"))
    ]


def test_every_package_is_found() -> None:
    assert set(package_dirs()) == set(LAYERS), "a package moved: update LAYERS and ARCHITECTURE.md"


def test_imports_point_only_at_lower_layers() -> None:
    found = [
        f"{module.relative_to(ROOT)}: {wrong}"
        for package, module in production_modules()
        for wrong in violations(package, module.read_text(encoding="utf-8"))
    ]
    assert not found, "imports against the direction:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("orderflow_contracts", "import orderflow_messaging\n"),
        ("orderflow_messaging", "def f():\n    from order_service.db import orders\n"),
        ("orderflow_servicekit", "from orderflow_cli.main import main\n"),
        ("order_service", "from payment_service.handler import OrderCreatedHandler\n"),
        ("payment_service", "from orderflow_testkit.waiting import free_port\n"),
        ("orderflow_cli", "from orderflow_devtools import up\n"),
        ("orderflow_cli", "import orderflow_testkit.waiting\n"),
        ("orderflow_testkit", "from orderflow_cli.errors import CliError\n"),
    ],
)
def test_the_check_refuses_an_import_against_the_direction(package: str, source: str) -> None:
    assert violations(package, source), f"{package} may not: {source.strip()}"


def test_the_check_allows_imports_along_the_direction() -> None:
    assert violations("orderflow_messaging", "from orderflow_contracts import OrderCreated\n") == []
    assert violations("order_service", "from orderflow_servicekit import create_app\n") == []
    assert violations("orderflow_testkit", "import orderflow_devtools\n") == []
    assert violations("orderflow_devtools", "import orderflow_cli.errors\n") == []
    assert violations("orderflow_cli", "import order_service.migrate\n") == []


def test_a_module_over_400_lines_says_why_in_its_docstring() -> None:
    long_ones = []
    for _package, module in production_modules():
        text = module.read_text(encoding="utf-8")
        if len(text.splitlines()) <= LONG_MODULE_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if LONG_MODULE_REASON not in docstring:
            long_ones.append(f"{module.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    assert not long_ones, (
        f"split these, or say '{LONG_MODULE_REASON} ...' in their docstring:\n"
        + "\n".join(long_ones)
    )
