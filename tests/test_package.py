"""The package's architecture, checked: the core imports no lesson module, no cycles, no private names across
modules, the report without PyTorch, a public API with __all__, the version written once."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import accel_utils as au

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "accel_utils"
PURE = ("accel_utils.core.report", "accel_utils.core.report_html", "accel_utils.core.results",
        "accel_utils.core.stats", "accel_utils.core.course", "accel_utils.core.fmt", "accel_utils.core.config")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, at any depth (imports inside functions too)."""
    name, out = _module_name(path), []
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            names = [a.name for a in node.names]
            if node.level and not node.module:          # from . import x: each x is a module
                out += [(f"{base}.{n}", []) for n in names]
            else:
                out.append((module, names))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for module, names in _imports(path):
            for candidate in [f"{module}.{n}" for n in names] + [module]:
                if candidate in modules and candidate != name:
                    targets.add(candidate)
                    break
        graph[name] = targets
    return graph


def test_the_core_imports_no_lesson_module():
    for name, targets in _graph().items():
        if name.startswith("accel_utils.core"):
            outside = {t for t in targets if not t.startswith("accel_utils.core")}
            assert not outside, f"{name} imports {sorted(outside)}: the core must not depend on a lesson module"


def test_no_import_cycles():
    graph, state, stack = _graph(), {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_private_names_imported_across_modules():
    offenders = []
    for path in list(PACKAGE.rglob("*.py")) + list((ROOT / "tools").glob("*.py")):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                offenders.append(f"{path.relative_to(ROOT)}: {module} {private}")
    assert not offenders, offenders


def test_report_and_results_need_no_pytorch():
    code = "import sys; sys.modules['torch'] = None\n" + "\n".join(f"import {m}" for m in PURE)
    code += "\nfrom accel_utils.core.report import main; main(['--help'])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and "usage" in run.stdout, run.stderr


def test_public_api_is_listed_and_resolves():
    assert "benchmark" in au.__all__ and "MODE" in au.__all__
    for name in au.__all__:
        assert getattr(au, name) is not None, name


def test_version_is_written_once():
    version = au.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    hits = [p for p in list(PACKAGE.rglob("*.py")) + [ROOT / "pyproject.toml"] if f'"{version}"' in p.read_text()]
    assert hits == [PACKAGE / "core" / "version.py"], hits


def test_every_import_is_a_declared_dependency():
    stdlib = set(sys.stdlib_module_names)
    declared = {"torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "IPython", "tqdm", "psutil", "onnx",
                "onnxscript", "onnxruntime", "torchao", "PIL"}
    text = (ROOT / "pyproject.toml").read_text()
    for dist in ("torch", "torchvision", "numpy", "matplotlib", "pillow", "ipywidgets", "tqdm", "psutil", "onnx",
                 "onnxscript", "onnxruntime", "torchao", "jupyterlab"):
        assert f'"{dist}' in text, f"{dist} is not declared in pyproject.toml"
    for path in PACKAGE.rglob("*.py"):
        for module, _ in _imports(path):
            top = module.split(".")[0]
            assert top in stdlib or top in declared or top == "accel_utils", f"{path.name} imports {top}, not declared"
