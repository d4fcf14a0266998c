"""scripts/sweep_recipe.py's grids and their settings (the sweep itself is run by hand: --grid tiny)."""

from __future__ import annotations

import importlib.util

from conftest import REPO

from namelstm.training.settings import resolve_config


def _sweep():
    spec = importlib.util.spec_from_file_location("sweep_recipe", REPO / "scripts" / "sweep_recipe.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_every_spec_of_every_grid_is_a_config_the_library_trains() -> None:
    sweep = _sweep()
    for name, grid in sweep.GRIDS.items():
        specs = grid()
        assert specs, name
        assert len({tuple(sorted(s.items())) for s in specs}) == len(specs), f"{name} repeats a spec"
        for spec in specs:
            config = resolve_config(sweep.config_of(spec))
            assert (config.lr, config.weight_decay, config.batch_size) == (
                spec["lr"],
                spec["wd"],
                spec["batch"],
            )
            assert config.average_last == 0 and config.hidden_size == spec["hidden"]


def test_a_grid_axis_of_settings_overrides_what_came_before_it() -> None:
    sweep = _sweep()
    specs = sweep.cross(schedule=["cosine"], seed=[0, 1], setting=[{"schedule": "constant"}, {"lr": 0.4}])
    assert [(s["seed"], s["schedule"], s["lr"]) for s in specs] == [
        (0, "constant", 0.1),
        (0, "cosine", 0.4),
        (1, "constant", 0.1),
        (1, "cosine", 0.4),
    ]


def test_the_table_pools_a_specs_seeds_into_one_row() -> None:
    sweep = _sweep()
    spec = sweep.nonrecurrent2_grid()[0]
    pick = {"acc": 0.8, "bal": 0.6, "score": 0.7}
    rows = [
        {"spec": {**spec, "seed": seed}, "select": {r: {**pick, "score": score} for r in sweep.RULES}}
        for seed, score in ((0, 0.7), (1, 0.72))
    ]
    (line,) = sweep.table(rows)
    assert line.startswith(
        "| ngram | adam lr 0.003 constant | 20 | none | 0,1 | 80.0 / 60.0 / **0.710** (0.700, 0.720)"
    )
