"""The package's shape: short functions, imports that only point down the layers, no circles.

Layers, bottom first (a module may import its own layer and the ones below, never above):

    0    airflow_provider_bulkdots (the root __init__), exceptions.py, dots/    pure, no Airflow
    1.1  delivery/settings.py, state_files.py, pacing/, reporting/            pure, no Airflow
    1.2  delivery/http/ (the request path: auth, transport, attempt, retry, sender)   "
    1.3  delivery/exactly_once/ (ledger, read-back, skip_existing, composed)          "
    1.4  delivery/__init__ (the delivery layer's public names)                         "
    1.5  planning/ (plan, check, replace, late data: above delivery)                   "
    2    sources/, compat.py (every Airflow import of the provider, see tests/test_compat.py)
    3    stores/ (what a task leaves in Airflow and on disk: ledger store, watermarks,
         assets, lineage, rejected rows, summary)
    4    hooks/ (the hook, the delivery it composes, its stages: replace), links/ (the
         operators' extra links), get_provider_info.py
    5    operators/ (the operators only: BulkDotsOperator, BulkDotsCheckOperator), cli.py,
         __main__.py
    6    emulator/  (a stand-in of the API; nothing of the provider imports it)

A module's layer is that of the longest entry of :data:`LAYERS` its dotted name starts with.
Every import counts, also those inside functions and under ``TYPE_CHECKING``: a lazy import
is still a dependency. No module imports itself back through others (no import circles,
lazy imports included).

Every third-party module the package imports comes from a distribution it declares
(``pyproject.toml``, read back from the installed metadata); one declared only in an extra
(pandas, pyarrow) is imported lazily, inside a function, so the package works without it.
"""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest

import airflow_provider_bulkdots

PACKAGE = "airflow_provider_bulkdots"
# The installed package: CI also runs these tests against the built wheel, without the source.
ROOT = Path(airflow_provider_bulkdots.__file__).resolve().parent
MAX_FUNCTION_LINES = 60

LAYERS: dict[str, float] = {
    "": 0,
    "exceptions": 0,
    "dots": 0,
    "delivery.settings": 1.1,
    "delivery.state_files": 1.1,
    "delivery.pacing": 1.1,
    "delivery.reporting": 1.1,
    "delivery.http": 1.2,
    "delivery.exactly_once": 1.3,
    "delivery": 1.4,
    "planning": 1.5,
    "sources": 2,
    "compat": 2,
    "stores": 3,
    "hooks": 4,
    "links": 4,
    "get_provider_info": 4,
    "operators": 5,
    "cli": 5,
    "__main__": 5,
    "emulator": 6,
}
#: Layers up to this one must not import Airflow at all (the core, delivery, planning).
NO_AIRFLOW_BELOW = 1.5


#: Module name -> distribution, where the import name is not the distribution's name.
DISTRIBUTION_OF = {"airflow": "apache-airflow"}
#: Imports that need no declaration, with the reason.
UNDECLARED_ALLOWED = {
    # The opt-in pytest plugin runs only inside a pytest session, which brings pytest.
    ("emulator/pytest_plugin.py", "pytest"),
}


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> float | None:
    """The layer of a module of the package (``None``: not the package's)."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    key = _layer_key(module)
    if key is None:
        top = module[len(PACKAGE) + 1 :].split(".")[0]
        raise AssertionError(f"{module}: give {top!r} a layer in tests/test_code_shape.py")
    return LAYERS[key]


def _layer_key(module: str) -> str | None:
    """The longest entry of :data:`LAYERS` that ``module`` (of the package) falls under."""
    relative = module[len(PACKAGE) + 1 :] if module != PACKAGE else ""
    if not relative:
        return ""
    candidates = [key for key in LAYERS if key and f"{relative}.".startswith(f"{key}.")]
    return max(candidates, key=len) if candidates else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import statement of a file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    return _imports_in(path.read_text(), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every import of ``source``, a module of ``package``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # ``from package import submodule`` imports the submodule too.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _is_module(name: str) -> bool:
    relative = name[len(PACKAGE) :].lstrip(".").replace(".", "/")
    target = ROOT / relative
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def _function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines: its ``def`` line and its body. The parameter list is not counted:
    an operator's keyword arguments (one a line, each documented with ``:param:``) are its
    interface, and counting them pushed ``__init__`` to hide its assignments in
    ``setattr(self, name, locals()[name])``."""
    assert node.end_lineno is not None
    body_start = node.body[0].lineno
    return node.end_lineno - body_start + 1 + (1 if body_start > node.lineno else 0)


def test_no_function_longer_than_the_limit() -> None:
    too_long: list[str] = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = _function_lines(node)
                if length > MAX_FUNCTION_LINES:
                    where = path.relative_to(ROOT.parent)
                    too_long.append(f"{where}:{node.lineno} {node.name}() is {length} lines")
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(too_long)


def test_imports_point_down_the_layers() -> None:
    upward: list[str] = []
    for path in _modules():
        own = _layer(_module_name(path))
        assert own is not None
        for line, imported in _imports(path):
            if imported.startswith(PACKAGE) and not _is_module(imported):
                continue  # a name imported from a module, not a module
            target = _layer(imported)
            if target is not None and target > own:
                upward.append(f"{path.relative_to(ROOT.parent)}:{line} imports {imported}")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_the_pure_layers_do_not_import_airflow() -> None:
    found: list[str] = []
    for path in _modules():
        own = _layer(_module_name(path))
        if own is None or own > NO_AIRFLOW_BELOW:
            continue
        for line, imported in _imports(path):
            if imported == "airflow" or imported.startswith("airflow."):
                found.append(f"{path.relative_to(ROOT.parent)}:{line} imports {imported}")
    assert not found, "Airflow imported by the pure layers:\n" + "\n".join(found)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports by name: ``from pkg import sub`` imports
    ``sub`` (a module), ``from pkg import name`` imports ``pkg``; the parent packages Python
    initialises on the way are not counted (they are not a dependency the module chose)."""
    graph: dict[str, set[str]] = {}
    for path in _modules():
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                targets |= _named_modules(node, package)
        graph[module] = {name for name in targets if name.startswith(PACKAGE) and name != module}
    return graph


def _named_modules(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    """The modules one import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = _imports_in(ast.unparse(node), package)[0][1]
    subs = {f"{base}.{alias.name}" for alias in node.names}
    modules = {name for name in subs if name.startswith(PACKAGE) and _is_module(name)}
    return modules | ({base} if modules != subs else set())


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    circles = _circles(_import_graph())
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_a_function_is_counted_without_its_parameter_list() -> None:
    source = "def f(\n    a: int,\n    b: int,\n) -> int:\n    c = a + b\n    return c\n"
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.FunctionDef)
    assert _function_lines(node) == 3
    (short,) = ast.parse("def g(): return 1\n").body
    assert isinstance(short, ast.FunctionDef)
    assert _function_lines(short) == 1


def test_the_circle_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]


def test_layers_are_drawn_for_the_real_packages() -> None:
    """Every subpackage named in :data:`LAYERS` exists, and every module has a layer."""
    for key in LAYERS:
        if key:
            assert _is_module(f"{PACKAGE}.{key}"), f"LAYERS names {key!r}, which does not exist"
    for path in _modules():
        assert _layer(_module_name(path)) is not None


def test_operators_holds_only_operators() -> None:
    """Each module of ``operators/`` defines an operator; the parts a delivery or a plan is
    made of live below (``hooks/``, ``planning/``, ``stores/``)."""
    for path in sorted((ROOT / "operators").glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
        operators = [name for name in classes if name.endswith("Operator")]
        assert operators, f"operators/{path.name} defines no operator: move it to its layer"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook", 4),
        ("from ..hooks import bulkdots", 4),
        ("from .. import exceptions", 0),
        ("import airflow_provider_bulkdots.operators.bulkdots", 5),
        ("if TYPE_CHECKING:\n    from ..operators.bulkdots import BulkDotsOperator", 5),
        ("def f():\n    from airflow_provider_bulkdots.stores import ledger", 3),
        ("from .http.sender import Sender", 1.2),
    ],
)
def test_the_checker_sees_every_kind_of_import(source: str, expected: int) -> None:
    imported = [name for _, name in _imports_in(source, f"{PACKAGE}.delivery")]
    layers = {_layer(name) for name in imported if _layer_known(name)}
    assert expected in layers


def _layer_known(name: str) -> bool:
    return name.startswith(PACKAGE) and _layer_key(name) is not None


def _declared() -> tuple[set[str], set[str]]:
    """The distributions the package requires, and those only its extras (not dev) require."""
    core: set[str] = set()
    extras: set[str] = set()
    for requirement in metadata.requires(PACKAGE.replace("_", "-")) or []:
        name = requirement.split(";")[0]
        for stop in "<>=!~[ ":
            name = name.split(stop)[0]
        name = name.strip().lower().replace("_", "-")
        if "extra ==" not in requirement:
            core.add(name)
        elif "extra == 'dev'" not in requirement and 'extra == "dev"' not in requirement:
            extras.add(name)
    return core, extras


def _third_party_imports(path: Path) -> list[tuple[int, str, bool]]:
    """``(line, top-level module, at module level)`` of each third-party import of a file."""
    tree = ast.parse(path.read_text(), str(path))
    nested = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.If)
        for inner in ast.walk(node)
        if inner is not node
    }
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top != PACKAGE and top not in sys.stdlib_module_names:
                found.append((node.lineno, top, id(node) not in nested))
    return found


def test_every_direct_import_is_declared_and_extras_are_imported_lazily() -> None:
    core, extras = _declared()
    distributions = metadata.packages_distributions()
    problems: list[str] = []
    for path in _modules():
        where = path.relative_to(ROOT).as_posix()
        for line, module, at_top in _third_party_imports(path):
            if (where, module) in UNDECLARED_ALLOWED:
                continue
            names = {DISTRIBUTION_OF.get(module, module)} | set(distributions.get(module, []))
            names = {name.lower().replace("_", "-") for name in names}
            if names & core:
                continue
            if not names & extras:
                problems.append(f"{where}:{line} imports {module}, declared nowhere")
            elif at_top:
                problems.append(f"{where}:{line} imports {module} (an extra) at module level")
    assert not problems, "\n".join(problems)
