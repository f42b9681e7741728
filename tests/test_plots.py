"""The charts, read back from the figures that are saved: every plotted point is the report's value (recomputed here
from the per-query values where the report keeps them), and the layout reads at a glance: every text inside the
canvas, no two texts overlapping, the legend inside the figure, no label crossed by a line or sitting on a marker,
and the recommendation star on no text. Names from the run draw as plain text (matplotlib would read `$...$` as
math)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.lines import Line2D
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

from mrl_eval.report.document import load_report
from mrl_eval.report.growth_plot import growth_figure
from mrl_eval.report.models_view import models_figure
from mrl_eval.report.plots import deltas_figure, pareto_figure, plot_tradeoff, pyplot, size_tick, tradeoff_figure
from mrl_eval.report.schema import parse_document
from tests.conftest import DATA
from tests.helpers import minimal_report


@pytest.mark.parametrize("name", ["a$\\frac$b", "x\\$y$z", "$$", "50$ and 20$", "<script>"])
def test_a_model_name_with_dollars_draws_as_text(tmp_path, name):
    doc = minimal_report(model={"provider": "precomputed", "name": name, "fingerprint": "sha256:0"})
    plot_tradeoff(parse_document(doc, Path("run.json")), [tmp_path / "chart.svg"])
    svg = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    assert html.escape(name, quote=False) in svg  # the title's text, as written, escaped by the SVG writer


# Reading a figure back


def _axes(fig) -> list:
    """Every axes, with the child axes (a secondary axis) of each."""
    return [a for ax in fig.axes for a in (ax, *ax.child_axes)]


def _legends(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in _axes(fig) if ax.get_legend() is not None)]


def _drawn_texts(fig) -> list[tuple[Text, Bbox]]:
    """Every text the figure draws, with its box in display pixels: titles, axis labels, the tick labels inside
    the view, annotations (their text only, not the leader), legend entries."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts: list[Text] = [*fig.texts]
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for legend in _legends(fig):
        texts += legend.get_texts()
    for ax in _axes(fig):
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if low * (1 - 1e-9) <= tick.get_loc() <= high * (1 + 1e-9) or low <= tick.get_loc() <= high:
                    texts += [tick.label1, tick.label2]
    unique = list({id(t): t for t in texts}.values())
    shown = [t for t in unique if t.get_visible() and t.get_text().strip() and t.get_figure() is not None]
    return [(t, Text.get_window_extent(t, renderer)) for t in shown]


def _line_points(fig) -> list[np.ndarray]:
    """Every drawn line (and error bar) of every axes as display points, each segment cut in 20 (so a box it
    crosses holds one of them)."""
    paths = []
    for ax in fig.axes:
        for line in ax.lines:
            if line.get_visible() and line.get_linestyle() not in ("None", " ", ""):
                paths.append(line.get_transform().transform(line.get_path().vertices))
        for collection in ax.collections:  # error bars
            if isinstance(collection, LineCollection):
                paths += [collection.get_transform().transform(segment) for segment in collection.get_segments()]
    t = np.linspace(0, 1, 20)[:, None]
    return [np.concatenate([a + t * (b - a) for a, b in zip(xy[:-1], xy[1:])]) for xy in paths if len(xy) > 1]


def _marker_boxes(fig) -> list[Bbox]:
    """The box of every marker drawn (lines' markers and scatter points), in display pixels."""
    boxes = []
    for ax in fig.axes:
        for line in ax.lines:
            if line.get_visible() and line.get_marker() not in (None, "None", "", " ") and len(line.get_xdata()):
                half = line.get_markersize() / 2 * fig.dpi / 72
                for x, y in line.get_transform().transform(line.get_xydata()):
                    boxes.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
        for collection in ax.collections:
            if isinstance(collection, PathCollection) and collection.get_offsets().size:
                half = np.sqrt(collection.get_sizes()[0]) / 2 * fig.dpi / 72
                for x, y in collection.get_offset_transform().transform(collection.get_offsets()):
                    boxes.append(Bbox.from_extents(x - half, y - half, x + half, y + half))
    return boxes


def _shrunk(box: Bbox, by: float = 0.5) -> Bbox:
    return Bbox.from_extents(box.x0 + by, box.y0 + by, box.x1 - by, box.y1 - by)


def assert_reads_at_a_glance(fig) -> None:
    texts = _drawn_texts(fig)
    canvas = fig.bbox
    for text, box in texts:
        assert canvas.x0 - 0.5 <= box.x0 and box.x1 <= canvas.x1 + 0.5, f"{text.get_text()!r} leaves the canvas"
        assert canvas.y0 - 0.5 <= box.y0 and box.y1 <= canvas.y1 + 0.5, f"{text.get_text()!r} leaves the canvas"
    for n, (a, box_a) in enumerate(texts):
        for b, box_b in texts[n + 1 :]:
            assert not _shrunk(box_a).overlaps(_shrunk(box_b)), f"{a.get_text()!r} overlaps {b.get_text()!r}"
    renderer = fig.canvas.get_renderer()
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1 and canvas.y0 <= box.y0 and box.y1 <= canvas.y1
    labels = [(t, _shrunk(box, 1)) for t, box in texts if isinstance(t, Annotation)]
    for points in _line_points(fig):  # no label crossed by a line
        for text, box in labels:
            assert not any(box.contains(x, y) for x, y in points), f"a line crosses {text.get_text()!r}"
    for marker in _marker_boxes(fig):  # no label on a marker
        for text, box in labels:
            assert not box.overlaps(_shrunk(marker)), f"{text.get_text()!r} sits on a marker"
    for ax in fig.axes:  # the recommendation star sits on no text
        for line in ax.lines:
            if line.get_gid() == "recommended":
                half = line.get_markersize() / 2 * fig.dpi / 72
                x, y = line.get_transform().transform(line.get_xydata())[0]
                star = Bbox.from_extents(x - half, y - half, x + half, y + half)
                assert not [t.get_text() for t, box in texts if _shrunk(box).overlaps(star)]


def _gid(fig, gid: str):
    found = [a for ax in fig.axes for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]
    assert len(found) == 1, (gid, found)
    return found[0]


def _xy(artist) -> tuple[list[float], list[float]]:
    if isinstance(artist, Line2D):
        return list(map(float, artist.get_xdata())), list(map(float, artist.get_ydata()))
    offsets = np.asarray(artist.get_offsets())
    return list(map(float, offsets[:, 0])), list(map(float, offsets[:, 1]))


# The charts, from a recommend run, a grid, a growth run and a run of two models


@pytest.fixture(scope="module")
def run_doc(recommended):
    _, doc, _ = recommended
    return doc, parse_document(doc, Path("run.json"))


@pytest.fixture(scope="module")
def grid_doc():
    path = DATA / "reports" / "grid-recommend.json"
    return json.loads(path.read_text()), load_report(path)


@pytest.fixture
def close_figures():
    yield
    pyplot().close("all")


CHARTS = {
    "trade-off": ("run_doc", lambda data: tradeoff_figure(data[1])),
    "deltas": ("run_doc", lambda data: deltas_figure(data[1])),
    "pareto": ("grid_doc", lambda data: pareto_figure(data[1])),
    "growth": ("growth_run", lambda run: growth_figure(run.report)),
    "several models": ("two_models", lambda data: models_figure(data[1].report)),
}


@pytest.mark.parametrize("chart", CHARTS)
def test_every_chart_reads_at_a_glance(request, close_figures, chart):
    """Value labels under the trade-off's points were crossed by other lines, the star sat on a label, the legend
    entry of the bar was clipped at the right edge of the PNG, and the Pareto chart's labels crossed its lines."""
    fixture, draw = CHARTS[chart]
    assert_reads_at_a_glance(draw(request.getfixturevalue(fixture)))


def test_the_trade_off_chart_makes_the_bars_metric_prominent(run_doc, close_figures):
    fig = tradeoff_figure(run_doc[1])
    ax = fig.axes[0]
    primary = _gid(fig, "metric:ndcg@10")
    others = [line for line in ax.lines if (line.get_gid() or "").startswith("metric:") and line is not primary]
    assert others and all(line.get_linewidth() < primary.get_linewidth() / 2 for line in others)  # quieter
    assert not ax.texts  # no value label inside the plot, where a line could cross it


@pytest.mark.parametrize(("size", "text"), [(8, "8 B"), (512, "512 B"), (1024, "1 KiB"), (65536, "64 KiB")])
def test_bytes_ticks_read_as_sizes(size, text):
    assert size_tick(size) == text


def test_the_models_chart_has_a_colour_per_model_and_its_ticks_read_as_sizes(two_models, close_figures):
    report = two_models[1].report
    fig = models_figure(report)
    colours = {_gid(fig, f"prefixes:{name}").get_color() for name in report.names}
    assert len(colours) == len(report.names)
    assert all(_gid(fig, f"cells:{name}").get_color() == _gid(fig, f"prefixes:{name}").get_color()
               for name in report.names)  # fmt: skip
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and all(t.endswith((" B", " KiB")) for t in ticks)


# What each chart shows: its points are the report's values (issue 23)


def _means(per_query: dict, metric: str) -> list[float]:
    return [float(np.mean(list(per_query[key][metric].values()))) for key in per_query]


def test_the_trade_off_chart_plots_the_reports_values(run_doc, close_figures):
    doc, report = run_doc
    fig = tradeoff_figure(report)
    per_query = doc["per_query"]
    dims = sorted(int(d) for d in per_query)
    ordered = {str(d): per_query[str(d)] for d in dims}
    for metric in doc["settings"]["metrics"]:  # each metric's line: the mean of its per-query values, per dim
        x, y = _xy(_gid(fig, f"metric:{metric}"))
        assert x == dims and y == pytest.approx(_means(ordered, metric), abs=1e-12)
    means = _means(ordered, "ndcg@10")
    (top,) = fig.axes[0].child_axes  # the bar's metric, written along the top edge
    assert [t.get_text() for t in top.get_xticklabels()] == [f"{m:.3f}" for m in means]
    band = _gid(fig, "interval:ndcg@10").get_paths()[0].vertices  # the interval band: lower ends, then upper ends
    stats = {r["dim"]: r["stats"]["ndcg@10"]["ci"] for r in doc["results"]}
    for dim in dims:
        ends = sorted(y for x, y in band if x == pytest.approx(dim))
        assert ends[0] == pytest.approx(stats[dim][0]) and ends[-1] == pytest.approx(stats[dim][1])
    rec = doc["recommendation"]
    assert _xy(_gid(fig, "recommended")) == ([rec["dim"]], [pytest.approx(means[dims.index(rec["dim"])])])
    assert _xy(_gid(fig, "bar"))[1] == [pytest.approx(rec["threshold"])] * 2
    bytes_per_vector = {r["dim"]: r["bytes_per_vector"] for r in doc["results"]}
    bottom = [t.get_text().split("\n") for t in fig.axes[0].get_xticklabels()]
    assert [(int(d), b) for d, b, _ in bottom] == [(d, f"{bytes_per_vector[d]:,} B") for d in dims]


def test_the_deltas_chart_plots_each_dims_per_query_change(run_doc, close_figures):
    doc, report = run_doc
    fig = deltas_figure(report)
    metric, full = doc["losses"]["metric"], str(doc["full_dim"])
    reference = doc["per_query"][full][metric]
    dims = sorted(int(d) for d in doc["per_query"] if d != full)
    ax = fig.axes[0]
    means = [line for line in ax.lines if line.get_marker() == "D" and len(line.get_xdata())]
    medians = [line for line in ax.lines if line.get_linewidth() == 2 and len(line.get_xdata()) == 2]
    for n, dim in enumerate(dims):
        values = doc["per_query"][str(dim)][metric]
        deltas = [values[q] - reference[q] for q in reference]
        mean = next(line for line in means if line.get_xdata()[0] == n + 1)
        assert mean.get_ydata()[0] == pytest.approx(np.mean(deltas), abs=1e-12)
        median = next(line for line in medians if np.mean(line.get_xdata()) == pytest.approx(n + 1))
        assert list(median.get_ydata()) == pytest.approx([np.median(deltas)] * 2, abs=1e-12)


def _frontier(points: dict[str, tuple[float, float]]) -> list[str]:
    """The cells no other cell beats on both fewer bytes and a higher score (numpy, here)."""
    labels = list(points)
    xy = np.array([points[label] for label in labels])
    return [
        label
        for label, (b, v) in zip(labels, xy)
        if not np.any((xy[:, 0] <= b) & (xy[:, 1] >= v) & ((xy[:, 0] < b) | (xy[:, 1] > v)))
    ]


def test_the_pareto_chart_plots_every_cell_and_the_frontier(grid_doc, close_figures):
    doc, report = grid_doc
    fig = pareto_figure(report)
    metric = doc["recommendation"]["metric"]
    grid = doc["grid"]
    points = {}
    for cell in grid["cells"]:  # the mean of the cell's per-query values
        values = grid["per_query"].get(cell["label"], {}).get(metric)
        if values is None:  # a float32 prefix cell: the sweep's own per-query values
            values = doc["per_query"][str(cell["dim"])][metric]
        points[cell["label"]] = (cell["bytes_per_vector"], float(np.mean(list(values.values()))))
    for method in grid["methods"]:
        for precision in grid["precisions"]:
            group = [c for c in grid["cells"] if (c["method"], c["precision"]) == (method, precision)]
            x, y = _xy(_gid(fig, f"cells:{method}:{precision}"))
            wanted = sorted(points[c["label"]] for c in group)
            assert np.allclose(sorted(zip(x, y)), wanted, rtol=0, atol=1e-12)
    front = sorted({points[label] for label in _frontier(points)})  # two cells at the same point: one step
    x, y = _xy(_gid(fig, "frontier"))
    assert np.allclose(list(zip(x, y)), front, rtol=0, atol=1e-12)
    chosen = points[doc["recommendation"]["label"]]
    assert np.allclose(_xy(_gid(fig, "recommended")), [[chosen[0]], [chosen[1]]], rtol=0, atol=1e-12)


def test_the_growth_chart_plots_the_measured_drops_and_the_projections(growth_run, close_figures):
    doc = growth_run.to_dict()
    fig = growth_figure(growth_run.report)
    growth = doc["growth"]
    drawn = 0
    for d in growth["dims"]:
        if d["dim"] == doc["full_dim"]:
            continue
        x, y = _xy(_gid(fig, f"measured:{d['dim']}"))  # the mean over seeds of each size's drop
        assert x == growth["sizes"] and y == pytest.approx(np.mean(d["drop"], axis=0).tolist(), abs=1e-12)
        x, y = _xy(_gid(fig, f"projected:{d['dim']}"))
        assert x == [float(n) for n in growth["targets"].values()]
        assert y == pytest.approx([d["projection"][name]["drop"] for name in growth["targets"]], abs=1e-12)
        segments = _gid(fig, f"interval:{d['dim']}").get_segments()  # each projection's interval, drawn
        wanted = [[(n, d["projection"][name]["drop_ci"][0]), (n, d["projection"][name]["drop_ci"][1])]
                  for name, n in growth["targets"].items()]  # fmt: skip
        assert np.allclose(np.sort(np.asarray(segments), axis=1), np.sort(np.asarray(wanted, float), axis=1))
        drawn += 1
    assert drawn == len(growth["dims"]) - 1


def test_the_models_chart_plots_every_models_cells(two_models, close_figures):
    run, recommendation = two_models
    report = recommendation.report
    fig = models_figure(report)
    for name, one in zip(report.names, run.runs):  # each model's own report: its per-query values
        per_query = one.report.per_query
        dims = sorted(per_query)
        x, y = _xy(_gid(fig, f"prefixes:{name}"))
        assert x == [r.bytes_per_vector for r in sorted(one.report.results, key=lambda r: r.dim)]
        assert y == pytest.approx([np.mean(list(per_query[d]["ndcg@10"].values())) for d in dims], abs=1e-12)
        grid_values = one.report.grid.per_query
        others = {c.label: c for c in one.report.cells if (c.method, c.precision) != ("prefix", "float32")}
        x, y = _xy(_gid(fig, f"cells:{name}"))
        wanted = sorted((c.bytes_per_vector, np.mean(list(grid_values[label]["ndcg@10"].values())))
                        for label, c in others.items())  # fmt: skip
        assert np.allclose(sorted(zip(x, y)), wanted, rtol=0, atol=1e-12)
    doc = report.to_dict()
    cells = {c["label"]: c for c in doc["comparison"]["cells"]}
    chosen, reference = cells[doc["recommendation"]["label"]], cells[doc["comparison"]["reference"]]
    assert _xy(_gid(fig, "recommended")) == ([chosen["bytes_per_vector"]], [chosen["metrics"]["ndcg@10"]])
    assert _xy(_gid(fig, "reference")) == ([reference["bytes_per_vector"]], [reference["metrics"]["ndcg@10"]])
