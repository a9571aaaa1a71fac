"""The library's layers point one way (docs/LAYERS.md): core <- training <- runs <- figures <-
the entry points (CLI, REPORT.md, campaign workers, notebook tooling). An import that climbs back
up fails here."""

import ast
import shutil

from conftest import REPO

LIB = REPO / "lib" / "supermask"
LAYERS = {
    "training": 1,
    "runs": 2,
    "figures": 3,
    "notebooks": 4,
    "cli": 4,
    "__main__": 4,
    "report": 4,
    "worker": 4,
    "status": 4,
    "fresh_clone": 4,
}  # anything else in lib/supermask is core (0)


def layer(module: str) -> int:
    """The layer of a dotted module name under ``supermask``."""
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def module_name(path, lib=LIB) -> str:
    parts = list(path.relative_to(lib.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, lib=LIB) -> set[str]:
    """Every supermask module ``path`` imports, at the top or inside a function."""
    own = module_name(path, lib)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("supermask")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("supermask"):
                # `from .. import runs` names a module: its layer is the name's, not the package's
                found |= {
                    f"{target}.{alias.name}" if target == "supermask" else target
                    for alias in node.names
                }
    return found


def upward_imports(lib=LIB) -> list[str]:
    return [
        f"{module_name(path, lib)} -> {target}"
        for path in sorted(lib.rglob("*.py"))
        for target in sorted(imported_modules(path, lib))
        if layer(target) > layer(module_name(path, lib))
    ]


def test_no_import_points_up():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    """A core module importing the figures, or training importing the run store, is reported."""
    lib = tmp_path / "supermask"
    shutil.copytree(LIB, lib, ignore=shutil.ignore_patterns("__pycache__"))
    with open(lib / "masks.py", "a") as core:
        core.write("\nfrom .figures import plots\n")
    with open(lib / "training" / "loop.py", "a") as training:
        training.write("\n\ndef late():\n    from ..runs.store import RunStore\n")
    assert upward_imports(lib) == [
        "supermask.masks -> supermask.figures",
        "supermask.training.loop -> supermask.runs.store",
    ]
