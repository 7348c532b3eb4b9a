"""The layering of docs/architecture.md, checked on the source: every module imports only
from its own layer or the layers below it, at module level and inside functions alike
(a function-level import is how an import cycle hides)."""
import ast
import pathlib

import pytest

import deepbio

ROOT = pathlib.Path(deepbio.__file__).parent

#: Layer of each top-level part of the package (docs/architecture.md).
LAYERS = {
    "_kernels": 0, "_validation": 0, "_random": 0, "_device": 0,
    "_threads": 1, "backend": 1, "io": 1, "distributed": 1,
    "nn": 2, "testing": 2,
    "optim": 3,
    "models": 4,
    "datasets": 5, "explain": 5,
    "cli": 6, "__main__": 6, "plot": 6, "interop": 6, "course": 6, "__init__": 6,
}


def _part(module):
    """'deepbio.nn.layers' -> 'nn'; 'deepbio' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield name, path


def _imports(name, path):
    """Absolute names of the deepbio modules that ``path`` (module ``name``) imports."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "deepbio":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "deepbio":
                for alias in node.names:      # `from .. import backend` names a module
                    sub = f"{target}.{alias.name}"
                    is_module = (ROOT.parent / sub.replace(".", "/")).with_suffix(".py") \
                        .exists() or (ROOT.parent / sub.replace(".", "/")).is_dir()
                    yield (sub if is_module else target), node.lineno


@pytest.mark.parametrize("name,path", list(_modules()), ids=lambda v: str(v))
def test_imports_go_down_the_layers(name, path):
    part = _part(name)
    if part not in LAYERS:
        pytest.fail(f"{name}: not in the layer table of docs/architecture.md (add it)")
    own = LAYERS[part]
    upward = [f"line {line}: {target} (layer {LAYERS.get(_part(target))})"
              for target, line in _imports(name, path)
              if _part(target) in LAYERS and LAYERS[_part(target)] > own
              and _part(target) != part]
    assert not upward, f"{name} (layer {own}) imports from a higher layer: {upward}"


def test_the_checker_sees_function_level_imports(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("import numpy\nfrom . import backend\n\n\ndef f():\n"
                   "    from .models import REGISTRY\n")
    assert list(_imports("deepbio.io", src)) == [("deepbio.backend", 2), ("deepbio.models", 6)]
