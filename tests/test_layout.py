"""tests/ mirrors lm/: every module of the library has its test file."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_module_of_lm_has_its_test_file():
    """lm/a/b.py -> tests/a/test_b.py; a package's __init__.py with code, lm/a/__init__.py -> tests/a/test_a.py."""
    missing = []
    for module in sorted((ROOT / "lm").rglob("*.py")):
        relative = module.relative_to(ROOT / "lm")
        if module.name == "__init__.py":
            if len(ast.parse(module.read_text()).body) <= 1:
                continue  # only a docstring: nothing to test
            name = relative.parent.name
        else:
            name = module.stem
        if not (ROOT / "tests" / relative.parent / f"test_{name}.py").exists():
            missing.append(str(relative))
    assert missing == []
