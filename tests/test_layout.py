"""The house rules of the code base, checked: short functions, a package laid out by stage, one loop."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "namelstm"
SCRIPTS = PACKAGE.parent / "scripts"


def _is_click_command(node: ast.FunctionDef) -> bool:
    return any("command" in ast.unparse(d) for d in node.decorator_list)


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in [*PACKAGE.rglob("*.py"), *SCRIPTS.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = 80 if _is_click_command(node) else 60
                if node.end_lineno - node.lineno + 1 > limit:  # type: ignore[operator]
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.name}")
    assert not long


def test_the_package_is_laid_out_by_stage_and_each_folder_says_its_job() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= 8
    folders = [p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    assert {p.name for p in folders} >= {
        "data",
        "models",
        "training",
        "evaluation",
        "inference",
        "experiments",
        "cli",
    }
    for folder in folders:
        assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))), folder


def _calls_library_train(source: str) -> bool:
    """The script imports `train` from namelstm.training.launch and calls it (a `_train(` of its own,
    or the word in a comment, does not count)."""
    tree = ast.parse(source)
    imported = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "namelstm.training.launch"
        and any(alias.name == "train" and alias.asname is None for alias in node.names)
        for node in ast.walk(tree)
    )
    called = any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "train"
        for node in ast.walk(tree)
    )
    return imported and called


def test_the_recipe_sweep_trains_through_the_library() -> None:
    sweep = (SCRIPTS / "sweep_recipe.py").read_text(encoding="utf-8")
    assert ".backward(" not in sweep and _calls_library_train(sweep)
    # What the old check (`"train(" in sweep`) let through: a loop of its own named _train.
    assert not _calls_library_train("def _train(model):\n    pass\n\n_train(1)  # train(\n")


def test_the_public_api_stays() -> None:
    import namelstm
    from namelstm.inference.predict import Prediction, Predictor

    # The names resolve to the classes themselves (a __name__ check held for any class of that name).
    assert namelstm.Predictor is Predictor and namelstm.Prediction is Prediction
    assert {"Predictor", "Prediction"} <= set(namelstm.__all__)


# The layers, bottom first: a unit (a package of namelstm, or a module at its top) imports only from
# units of lower layers. Evaluation sits below training because training scores its weights on
# validation after every epoch and on test at the end; evaluation needs no training code.
LAYERS = (
    ("errors",),
    ("config", "runs"),
    ("data", "models"),
    ("metrics", "calibration", "checkpoint"),
    ("inference",),
    ("evaluation",),
    ("training",),
    ("experiments",),
    ("cli",),
    ("__main__", "__init__"),  # `python -m namelstm` starts the CLI; the package exports `Predictor`
)


def _unit(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_units(path: Path) -> set[str]:
    """Every unit of namelstm that `path` imports, at the top or inside a function."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(parts[: -node.level]) if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names = [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "namelstm" and len(pieces) > 1:
                if (PACKAGE / pieces[1]).is_dir() or (PACKAGE / f"{pieces[1]}.py").is_file():
                    units.add(pieces[1])
    return units - {_unit(path)}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        graph.setdefault(_unit(path), set()).update(_imported_units(path))
    return graph


def test_imports_run_one_way_up_the_layers() -> None:
    layer = {unit: i for i, units in enumerate(LAYERS) for unit in units}
    graph = _graph()
    assert set(graph) <= set(layer), set(graph) - set(layer)  # a new unit must be given its layer
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer[b] >= layer[a])
    assert not upward
    # What the layers promise, said plainly: the predictor needs no training or experiment code.
    assert not graph["inference"] & {"training", "evaluation", "experiments", "cli"}
    assert not graph["training"] & {"experiments", "cli"}
    assert not (graph["data"] | graph["models"]) - {"errors", "config", "runs"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` (depth-first search, counting every edge), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_graph_has_no_cycle_counting_every_import() -> None:
    assert _cycle(_graph()) is None
    # The check finds a cycle hidden in a function-level import, as training -> evaluation -> training was.
    assert _cycle({"training": {"evaluation"}, "evaluation": {"training"}}) == [
        "evaluation",
        "training",
        "evaluation",
    ]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_contributing_page_draws_the_layers_the_test_checks() -> None:
    page = (PACKAGE.parent / "docs" / "contributing.md").read_text(encoding="utf-8")
    picture = page.split("## Layout", 1)[1].split("```", 2)[1]
    rows = {int(line.split()[0]): line for line in picture.strip().splitlines()}
    assert sorted(rows) == list(range(len(LAYERS)))
    for i, units in enumerate(LAYERS):
        assert all(unit in rows[i].split("  ")[1] for unit in units), rows[i]
