"""What the figures show: legends inside the figure and off the curves, every bin's count, short titles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from namelstm.evaluation import plots


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the plot functions would save, drawn instead of written."""
    figures: list[Figure] = []

    def keep(fig: Figure, path: Path, dpi: int = 120) -> Path:
        FigureCanvasAgg(fig).draw()
        figures.append(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def test_the_validation_overlay_legend_stays_in_the_figure_and_off_the_axes(drawn: list[Figure]) -> None:
    history = [{"epoch": e, "val_loss": 1 / e} for e in (1, 2, 3)]
    label = (
        "outputs/compare/lstm-seed-0 (lstm hidden 64, 20 epochs, batch 64, SGD lr 0.8, clip 1, sqrt weights)"
    )
    plots.plot_validation_overlay(
        [(label, history), (label.replace("0 (", "1 ("), history)], Path("x.png"), "t"
    )
    fig = drawn[0]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = fig.legends[0].get_window_extent(renderer)
    axes = fig.axes[0].get_window_extent(renderer)
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.width  # nothing runs off an edge
    assert not legend.overlaps(axes)  # nor covers the curves


def _metrics() -> dict[str, Any]:
    rows = [
        {"low": i / 15, "high": (i + 1) / 15, "count": 0, "accuracy": 0.0, "confidence": 0.0}
        for i in range(15)
    ]
    rows[3] |= {"count": 1, "accuracy": 0.0, "confidence": 0.22}  # one name, wrong
    rows[14] |= {"count": 40, "accuracy": 0.97, "confidence": 0.98}
    return {
        "reliability": {"before": rows, "after": rows},
        "ece": 0.02,
        "ece_uncalibrated": 0.05,
        "calibration": {},
        "n": 41,
    }


def test_a_reliability_bin_of_one_wrong_name_shows_its_count(drawn: list[Figure]) -> None:
    plots.plot_reliability(_metrics(), Path("r.png"), "t")
    ax = drawn[0].axes[0]
    counts = {t.get_text(): t for t in ax.texts}
    assert set(counts) == {"1", "40"}
    background = to_rgb(ax.get_facecolor())
    assert to_rgb(counts["1"].get_color()) != background  # not white on white
    bar = next(p for p in ax.patches if abs(p.get_x() + p.get_width() / 2 - 3.5 / 15) < 1e-9)
    assert bar.get_linewidth() > 0  # a bar of height 0 is still drawn, as a line


def test_compare_figure_titles_name_the_split_and_point_at_the_settings() -> None:
    from namelstm.experiments.compare import figure_caption

    caption = figure_caption(
        [{"split": "split by name 0.8/0.1/0.1 seed 0: 14395 train, 1799 val, 1799 test pairs"}]
    )
    assert caption.count("\n") == 0 and len(caption) < 110 and "compare.md" in caption
