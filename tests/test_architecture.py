"""The house as docs/architecture.md draws it, read from the code: every import of an mrl_eval module (at the top,
inside a function, or under TYPE_CHECKING) goes down the layers or stays inside its own package, no import circle
exists, and an import placed inside a function is one of the few that keep start-up light (each named here with
its reason). The tests follow rules of their own: a test module imports no other test module, only the shared
helpers and oracles, and a missing component goes through tests/conftest.py's `require` (fails under CI), never
`pytest.importorskip`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "mrl_eval"

# Lowest first. A module may import modules of its own layer's package and of any layer below.
LAYERS = (
    (
        "mrl_eval.errors",
        "mrl_eval.files",
        "mrl_eval.limits",
        "mrl_eval.extras",
        "mrl_eval.progress",
        "mrl_eval.version",
        "mrl_eval.watchdog",
        "mrl_eval.defaults",
        "mrl_eval.safe_text",
    ),
    ("mrl_eval.providers",),
    ("mrl_eval.data",),
    ("mrl_eval.evaluate",),
    ("mrl_eval.methods",),
    ("mrl_eval.engines",),
    ("mrl_eval.decide",),
    ("mrl_eval.report",),
    ("mrl_eval.pipeline",),
    ("mrl_eval.api",),
    ("mrl_eval.cli", "mrl_eval.__main__"),
    ("mrl_eval",),
)

# Imports of mrl_eval modules that stay inside functions, and why. Everything else is imported at the top.
LAZY = {
    # The CLI imports the core inside each command, and `import mrl_eval` loads the API on first use (PEP 562,
    # by name through importlib, so no import statement): `mrl-eval --help` and `import mrl_eval` load no numpy,
    # pandas or model library (tests/test_cli.py)
    ("mrl_eval.cli.*", "*"): "the CLI imports the core inside its commands: --help stays fast",
    # numba compiles and loads only when a search runs: `recommend --from` never imports it
    ("mrl_eval.evaluate.retrieval", "mrl_eval.evaluate.kernel"): "numba only when scoring",
    ("mrl_eval.evaluate.kernel", "mrl_eval.evaluate._kernel_numba"): "numba only when scoring",
    # registries: a back-end's module (and its SDK) is imported only when it is asked for
    ("mrl_eval.providers", "mrl_eval.providers.*"): "provider registry",
    # (the engine registry, mrl_eval.engines.ENGINE_CLASSES, imports an engine's module by name through importlib)
    ("mrl_eval.pipeline.embed", "mrl_eval.data.ray_embed"): "ray only for a run on Ray",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, str]]:
    """(imported module, where: "top", "function" or "typecheck") for every mrl_eval import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []

    def target(module: str) -> str:
        while module not in MODULES and "." in module:
            module = module.rsplit(".", 1)[0]
        return module

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                here = "function"
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                here = "typecheck"
            if isinstance(child, ast.Import):
                found.extend((target(a.name), here) for a in child.names if a.name.startswith("mrl_eval"))
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("mrl_eval"):
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.append((full if full in MODULES else target(child.module or ""), here))
            visit(child, here)

    visit(tree, "top")
    return [(module, where) for module, where in found if module != name]


EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    best = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py"
    return best[0]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _matches(pattern: str, module: str) -> bool:
    return pattern == "*" or pattern == module or (pattern.endswith(".*") and module.startswith(pattern[:-1]))


def test_every_module_belongs_to_a_layer():
    for name in MODULES:
        _layer(name)


def test_imports_go_down_the_layers_or_stay_in_their_package():
    upward = [
        f"{name} -> {module}"
        for name, edges in EDGES.items()
        for module, _ in edges
        if _package(module) != _package(name) and _layer(module) > _layer(name)
    ]
    assert not upward, "imports that go up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = {name: {module for module, _ in edges} for name, edges in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    assert not circles, f"import circles: {circles}"


def test_imports_inside_functions_are_only_the_documented_lazy_ones():
    hidden = [
        f"{name} -> {module}"
        for name, edges in EDGES.items()
        for module, where in edges
        if where == "function" and not any(_matches(a, name) and _matches(b, module) for a, b in LAZY)
    ]
    assert not hidden, (
        "imports inside functions (move them to the top, or add them to LAZY with a reason):\n"
        + "\n".join(sorted(hidden))
    )


@pytest.mark.parametrize("rule", sorted(LAZY))
def test_every_lazy_rule_is_still_used(rule):
    a, b = rule
    assert any(
        _matches(a, name) and _matches(b, module) and where == "function"
        for name, edges in EDGES.items()
        for module, where in edges
    ), f"{rule} allows a lazy import that no longer exists: remove it from LAZY"


# The tests themselves

TESTS = ROOT / "tests"
# What a test module may import from tests/: fixtures and helpers, and the independent oracles
SHARED_TEST_MODULES = {
    "tests.conftest",
    "tests.helpers",
    "tests.reference_search",
    "tests.faiss_oracle",
    "tests.engine_oracle",
    "tests.fuzzing",
}


def _test_imports(path: Path) -> list[str]:
    """Every module of tests/ that `path` imports (at the top or inside a function)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "tests" or a.name.startswith("tests.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tests":
                found += [f"tests.{a.name}" for a in node.names]
            elif node.module.startswith("tests."):
                found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append("." * node.level + (node.module or ""))  # relative: never needed, always reported
    return found


def test_a_test_module_imports_no_other_test_module():
    """Helpers and fixtures shared by several modules live in tests/conftest.py or tests/helpers.py: importing a
    fixture from another test module registers it twice (a module-scoped server or run starts twice)."""
    wrong = [
        f"{path.name} imports {module}"
        for path in sorted(TESTS.glob("*.py"))
        for module in _test_imports(path)
        if module not in SHARED_TEST_MODULES
    ]
    assert not wrong, "move what they share to tests/conftest.py or tests/helpers.py:\n" + "\n".join(wrong)


def test_the_shared_test_modules_exist():
    assert {f"tests.{p.stem}" for p in TESTS.glob("*.py")} >= SHARED_TEST_MODULES


def test_a_missing_component_goes_through_require():
    """`pytest.importorskip` skips silently in CI too; tests/conftest.py's `require` fails there."""
    calls = [
        f"{path.name}:{node.lineno}"
        for path in sorted(TESTS.glob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "importorskip"
    ]
    assert not calls, "use tests.conftest.require(module, extra=...) instead of pytest.importorskip: " + ", ".join(
        calls
    )


SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}
# Subprocesses that must not get checkout_env, and why
WITHOUT_CHECKOUT_ENV = {
    "imported": "tests/test_conftest.py: the control, a child without checkout_env imports another copy",
}


def _env_source(tree: ast.Module, call: ast.Call, scopes: list[ast.AST]) -> str:
    """The source of the `env=` a subprocess call passes, followed one step: a local name to its assignment in the
    enclosing function, a call of a helper of the module to that helper's body. "" when there is no env=."""
    env = next((k.value for k in call.keywords if k.arg == "env"), None)
    if env is None:
        return ""
    if isinstance(env, ast.Name):
        for scope in reversed(scopes):
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == env.id for t in node.targets):
                    return ast.unparse(node.value)
    if isinstance(env, ast.Call) and isinstance(env.func, ast.Name):
        helper = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == env.func.id), None)
        if helper is not None:
            return ast.unparse(helper)
    return ast.unparse(env)


def _subprocess_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, enclosing test or helper, env source) of every subprocess call in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, scopes: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            inner = [*scopes, child] if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scopes
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in SUBPROCESS_CALLS
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id == "subprocess"
            ):
                where = next((s.name for s in reversed(inner) if isinstance(s, ast.FunctionDef)), "")
                out.append((child.lineno, where, _env_source(tree, child, inner)))
            visit(child, inner)

    visit(tree, [tree])
    return out


def test_every_subprocess_of_the_tests_runs_the_checkout():
    """`python -m mrl_eval` or `python -c` in a folder outside the checkout imports whatever mrl_eval is installed
    (the working directory comes first on sys.path, not the checkout): every subprocess a test starts gets its
    environment from tests/conftest.py's `checkout_env`, which puts the checkout first on PYTHONPATH."""
    calls = [(path, *call) for path in sorted(TESTS.glob("*.py")) for call in _subprocess_calls(path)]
    assert len(calls) >= 10  # the check sees the subprocess tests (the CLI, the cache, the kernel, the engines...)
    wrong = [
        f"{path.name}:{line}"
        for path, line, where, env in calls
        if "checkout_env(" not in env and where not in WITHOUT_CHECKOUT_ENV
    ]
    assert not wrong, "pass env=checkout_env(...) (tests/conftest.py) to: " + ", ".join(wrong)
