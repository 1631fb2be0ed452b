"""The project's shape stays as docs/architecture.md says: few function-local imports, each
saying why, and modules that split by subject before they grow past ~500 lines."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("portal", "compute", "storage", "network", "scheduler", "catalog", "hypervisor", "openstack_api")
MAX_LOCAL_IMPORTS = 19  # "fewer than 20", issue #14
MAX_MODULE_LINES = 500


def project_modules():
    """Every module of the project: the apps, manage.py, the benchmarks and the lab's helpers;
    not tests or migrations."""
    yield ROOT / "manage.py"
    for folder in (*APPS, "bench", "lab"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" not in parts and parts[:2] != ("lab", "state"):
                yield path


def local_imports(path):
    """(line number, has a reason) of every import inside a function of the module. The reason
    is a comment on the import's line or on the lines right above it."""
    lines = path.read_text().splitlines()
    found = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.add(inner.lineno)
    for lineno in sorted(found):
        above = lines[lineno - 2].strip() if lineno > 1 else ""
        yield lineno, "#" in lines[lineno - 1] or above.startswith("#")


def test_function_local_imports_are_few_and_each_says_why():
    imports = [(path.relative_to(ROOT), line, why) for path in project_modules() for line, why in local_imports(path)]
    unexplained = [f"{path}:{line}" for path, line, why in imports if not why]
    # A benchmark imports models at its top after `import django_env` (bench/django_env.py).
    assert not unexplained, f"function-local imports without a comment saying why: {unexplained}"
    assert len(imports) <= MAX_LOCAL_IMPORTS, f"{len(imports)} function-local imports: {imports}"


def test_the_check_sees_an_unexplained_local_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import os\n\n\ndef g():\n    # why: a cycle\n    import sys\n")
    assert list(local_imports(module)) == [(2, False), (7, True)]


def test_no_module_is_past_the_size_a_package_starts_at():
    long = {}
    for path in project_modules():
        count = len(path.read_text().splitlines())
        if count > MAX_MODULE_LINES:
            long[str(path.relative_to(ROOT))] = count
    assert not long, f"split these by subject (docs/architecture.md): {long}"
