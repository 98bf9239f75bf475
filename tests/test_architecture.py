"""Import directions from STYLE.md, checked by walking every module's imports with ast."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "range", "scoring")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports_any(path: Path, prefixes: tuple[str, ...]) -> bool:
    return any(n == p or n.startswith(p + ".") for n in imported_names(path) for p in prefixes)


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in modules(package) if imports_any(p, forbidden)]


def test_every_package_has_modules() -> None:
    for package in ("app", "range"):
        assert modules(package), f"{package}/ has no modules"


@pytest.mark.parametrize("library", ["range", "scoring"])
def test_libraries_never_import_the_control_plane(library: str) -> None:
    assert offenders(library, ("app", "flask", "flask_login", "flask_babel", "sqlalchemy", "alembic")) == []


def test_only_one_range_module_imports_docker_and_one_paramiko() -> None:
    docker_users = offenders("range", ("docker",))
    paramiko_users = offenders("range", ("paramiko",))
    assert len(docker_users) <= 1, docker_users
    assert len(paramiko_users) <= 1, paramiko_users
    assert offenders("app", ("docker", "paramiko")) == [], "app/ reaches Docker only through range/"


def test_models_do_not_import_services_or_presentation() -> None:
    assert offenders("app/models", ("app.services", "app.web", "app.api", "app.cli", "flask")) == []


def test_services_do_not_import_presentation_or_flask() -> None:
    assert offenders("app/services", ("app.web", "app.api", "app.cli", "flask", "flask_login")) == []


def test_scenario_loader_stays_below_services() -> None:
    assert offenders("app/scenario", ("app.services", "app.web", "app.api", "app.cli", "flask")) == []


def test_presentation_reaches_ranges_only_through_services() -> None:
    for package in ("app/web", "app/api"):
        assert offenders(package, ("range", "scoring", "docker", "paramiko")) == []


def test_no_bare_import_of_range() -> None:
    for package in (*PACKAGES, "tests", "migrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    assert all(a.name != "range" for a in node.names), f"{path}: bare `import range`"


def test_tests_do_not_shadow_the_range_package() -> None:
    assert not (ROOT / "tests" / "range").exists(), "use tests/test_range/, not tests/range/"
