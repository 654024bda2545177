"""What every plot of ``OUT/plots`` shows, read back from its figure: the plotted values
equal what the summary, the predictions or the spike statistics say (no Ray, no TF)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from scipy import stats
from test_plots import check_png, summary_for

from snnjob.architecture import NetSpec, preset_layers
from snnjob.messages import SpikeCounts
from snnjob.plots import (
    class_errors,
    confusion_counts,
    confusion_figure,
    digits_figure,
    error_vs_steps_figure,
    error_vs_synops_figure,
    outputs_over_time_figure,
    plot_confusion,
    plot_digits,
    plot_error_vs_steps,
    plot_error_vs_synops,
    plot_outputs_over_time,
    plot_spike_histograms,
    rate_mode_lines,
    seed_means,
    spike_histograms,
    spike_histograms_figure,
    spike_rates_figure,
    synops_points,
    tagged,
)
from snnjob.results.byrecipe import label_recipes, summarize_recipes
from snnjob.results.schema import SPIKE_HIST_BINS, SPIKES_DIR
from snnjob.results.spikestore import (
    SPIKE_SCHEMA_V1,
    read_spikes,
    spike_file_name,
    spike_rows,
    write_spikes,
)

STRIDED = NetSpec(preset_layers("strided"), (28, 28, 1), 10)  # the strided preset on MNIST
# 3 training seeds x 2 evaluation seeds x n_steps 10, 30 (1000 images per point)
ERRORS = {
    (0, 10, 0): 80, (0, 10, 1): 84, (0, 30, 0): 30, (0, 30, 1): 32,
    (1, 10, 0): 90, (1, 10, 1): 96, (1, 30, 0): 35, (1, 30, 1): 33,
    (2, 10, 0): 70, (2, 10, 1): 72, (2, 30, 0): 25, (2, 30, 1): 29,
}  # fmt: skip
RATE_MODE = [
    {"params_id": "base", "train_seed": t, "n_images": 1000, "n_errors": e, "error": e / 1000,
     "ci95_low": 0.0, "ci95_high": 1.0}
    for t, e in ((0, 12), (1, 15), (2, 9))
]  # fmt: skip


def _with_seeds(errors: dict) -> dict:
    """summary_for, but each training seed its own parameter set (as a real run has)."""
    summary = summary_for(errors)
    for p in summary["points"]:
        p["params_id"] = f"p{p['train_seed']}"
    return summary


def _t_interval(values) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=np.float64)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean(), values.mean() - half, values.mean() + half


def _one(fig, gid):
    (artist,) = tagged(fig, gid)
    return artist


def _band_at(band: PolyCollection, x: float) -> tuple[float, float]:
    """Lowest and highest y of a fill_between polygon at ``x``."""
    v = np.concatenate([p.vertices for p in band.get_paths()])
    ys = v[np.isclose(v[:, 0], x), 1]
    return ys.min(), ys.max()


# --------------------------------------------------------------------------------------------
# error_vs_steps.png: the mean over training seeds, its t-interval, the rate-mode line
# --------------------------------------------------------------------------------------------


def test_the_mean_over_training_seeds_and_its_t_interval_are_drawn(tmp_path):
    summary = _with_seeds(ERRORS)
    summary["rate_mode"] = [{**r, "params_id": f"p{r['train_seed']}"} for r in RATE_MODE]
    (mean,) = seed_means(summary)
    # the same numbers as summary.recipes (what the report's tables show)
    (recipe,) = summarize_recipes(label_recipes(summary, {}), [{"recipe": "base"}])
    assert mean["mean_error"] == [b.mean_error for b in recipe.by_n_steps]
    assert mean["ci95_low"] == [b.mean_ci95_low for b in recipe.by_n_steps]
    fig = error_vs_steps_figure(summary)
    line = _one(fig, "seed-mean:base")
    band = _one(fig, "seed-band:base")
    assert list(line.get_xdata()) == [10, 30]
    for i, n in enumerate((10, 30)):
        # each training seed's error: its counts pooled over the evaluation seeds
        per_seed = [(ERRORS[(t, n, 0)] + ERRORS[(t, n, 1)]) / 2000 for t in range(3)]
        m, low, high = _t_interval(per_seed)
        assert line.get_ydata()[i] == pytest.approx(100 * m)
        assert _band_at(band, n) == pytest.approx((100 * low, 100 * high))
        (x0, bar_low), (x1, bar_high) = _one(fig, "seed-bars:base").get_segments()[i]
        assert x0 == x1 == n and (bar_low, bar_high) == pytest.approx((100 * low, 100 * high))
    assert "mean of 3 training seeds (95% t-interval)" in line.get_label()
    rate = _one(fig, "rate-mode:base")
    assert list(rate.get_ydata()) == pytest.approx([100 * 12 / 1000] * 2)
    assert "rate mode (LIFRate, no spikes): 1.20%, mean of 3 training seeds" in rate.get_label()
    assert rate_mode_lines(summary)[0]["errors"] == [0.012, 0.015, 0.009]
    check_png(plot_error_vs_steps(tmp_path / "e.png", summary))


def test_one_training_seed_has_no_band_and_says_so():
    summary = summary_for({k: v for k, v in ERRORS.items() if k[0] == 0})
    fig = error_vs_steps_figure(summary)
    line = _one(fig, "seed-mean:base")
    assert line.get_label() == "training seed 0 only (no interval over seeds)"
    assert list(line.get_ydata()) == pytest.approx([100 * 164 / 2000, 100 * 62 / 2000])
    assert tagged(fig, "seed-band:base") == [] == tagged(fig, "seed-bars:base")
    assert tagged(fig, "rate-mode:base") == []
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "training seed 0 only (no interval over seeds)" in legend


def test_a_single_n_steps_gets_error_bars_over_the_seeds():
    summary = _with_seeds({k: v for k, v in ERRORS.items() if k[1] == 30})
    fig = error_vs_steps_figure(summary)
    bars = _one(fig, "seed-bars:base")
    assert isinstance(bars, LineCollection) and tagged(fig, "seed-band:base") == []
    ((x0, low), (x1, high)), *_ = bars.get_segments()
    _, lo, hi = _t_interval([(ERRORS[(t, 30, 0)] + ERRORS[(t, 30, 1)]) / 2000 for t in range(3)])
    assert x0 == x1 == 30 and (low, high) == pytest.approx((100 * lo, 100 * hi))


def test_each_recipe_has_its_mean_band_and_rate_mode_line_in_its_colour():
    summary = _with_seeds(ERRORS)
    for p in summary["points"]:
        if p["eval_seed"] == 1:  # eval seed 1 stands in for a second recipe
            p["params_id"] = f"q{p['train_seed']}"
            p["eval_seed"] = 0
    summary = label_recipes(summary, {f"q{t}": "fast" for t in range(3)}).to_dict()
    summary["rate_mode"] = [
        {**r, "params_id": f"{x}{r['train_seed']}", "recipe": name}
        for x, name in (("p", "base"), ("q", "fast"))
        for r in RATE_MODE
    ]  # fmt: skip
    fig = error_vs_steps_figure(summary)
    for recipe, colour, eval_seed in (("base", "C0", 0), ("fast", "C1", 1)):
        line = _one(fig, f"seed-mean:{recipe}")
        assert line.get_color() == colour and line.get_label().startswith(f"{recipe}: mean of 3")
        errors = [ERRORS[(t, 10, eval_seed)] / 1000 for t in range(3)]
        assert line.get_ydata()[0] == pytest.approx(100 * np.mean(errors))
        assert _band_at(_one(fig, f"seed-band:{recipe}"), 10) == pytest.approx(
            tuple(100 * v for v in _t_interval(errors)[1:])
        )
        assert _one(fig, f"rate-mode:{recipe}").get_label().startswith(f"{recipe}: rate mode")


# --------------------------------------------------------------------------------------------
# error_vs_synops.png
# --------------------------------------------------------------------------------------------


def _spikes_entry(params_id, train_seed, synops, recipe="base"):
    layers = [{"layer": f"conv{i}", "synops_per_image_step": s} for i, s in enumerate(synops)]
    return {"params_id": params_id, "recipe": recipe, "train_seed": train_seed,
            "eval_seed": 0, "n_images": 200, "n_steps": 30, "layers": layers}  # fmt: skip


def test_error_against_synops_per_image_beside_the_ann_macs(tmp_path):
    summary = _with_seeds({k: v for k, v in ERRORS.items() if k[0] < 2})
    summary["rate_mode"] = [{**r, "params_id": f"p{r['train_seed']}"} for r in RATE_MODE[:2]]
    summary["spikes"] = [_spikes_entry("p0", 0, [1e4, 2e4, 5e3]),
                         _spikes_entry("p1", 1, [2e4, 1e4, 1e3])]  # fmt: skip
    macs = STRIDED.macs_per_image_step()
    points = synops_points(summary)
    assert [p["synops_per_image"] for p in points] == [[3.5e5, 1.05e6], [3.1e5, 9.3e5]]
    fig = error_vs_synops_figure(summary, {"base": macs})
    for t, per_step in ((0, 3.5e4), (1, 3.1e4)):
        line = _one(fig, f"synops:p{t}")
        assert list(line.get_xdata()) == pytest.approx([10 * per_step, 30 * per_step])
        expected = [(ERRORS[(t, n, 0)] + ERRORS[(t, n, 1)]) / 2000 for n in (10, 30)]
        assert list(line.get_ydata()) == pytest.approx([100 * e for e in expected])
    assert list(_one(fig, "ann-macs:base").get_xdata()) == [macs, macs]
    star = _one(fig, "ann-error:base")
    assert (star.get_xdata()[0], star.get_ydata()[0]) == pytest.approx((macs, 100 * 0.0135))
    assert f"{macs:.3g} MACs per image" in _one(fig, "ann-macs:base").get_label()
    # a number applies to every recipe; no rate-mode rows: no star
    del summary["rate_mode"]
    check_png(plot_error_vs_synops(tmp_path / "s.png", summary, macs))
    assert tagged(error_vs_synops_figure(summary, macs), "ann-error:base") == []
    with pytest.raises(ValueError, match="no spike statistics"):
        error_vs_synops_figure({**summary, "spikes": []}, macs)


# --------------------------------------------------------------------------------------------
# confusion.png
# --------------------------------------------------------------------------------------------


def test_the_confusion_matrix_shows_the_counts_and_each_classs_error(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 500)
    predictions = np.where(rng.random(500) < 0.9, labels, rng.integers(0, 10, 500))
    counts = confusion_counts(labels, predictions, 10)
    expected = np.zeros((10, 10), int)
    for a, b in zip(labels, predictions):
        expected[a, b] += 1
    np.testing.assert_array_equal(counts, expected)
    errors = class_errors(counts)
    for d in range(10):
        mine = labels == d
        assert errors[d] == pytest.approx(np.mean(predictions[mine] != d))
    fig = confusion_figure({"": counts}, n_steps=30)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown.filled(0), counts / counts.sum(axis=1, keepdims=True))
    for (i, j), k in np.ndenumerate(counts):
        cells = tagged(fig, f"cell::{i}:{j}")
        assert [c.get_text() for c in cells] == ([str(k)] if k else [])
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [f"{d}: {100 * errors[d]:.1f}%" for d in range(10)]
    wrong = int(np.sum(labels != predictions))
    assert ax.get_title() == f"{wrong} of 500 wrong ({100 * wrong / 500:.2f}%)"
    check_png(plot_confusion(tmp_path / "c.png", {"base": counts, "fast": counts.T}, n_steps=30))
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class: its error"
    with pytest.raises(ValueError, match="labels must be class indices 0..9"):
        confusion_counts([0, 10], [0, 1], 10)


# --------------------------------------------------------------------------------------------
# spike_rate_histograms.png and the spikes-v2 histogram columns
# --------------------------------------------------------------------------------------------


def _counts(seed=0) -> SpikeCounts:
    rng = np.random.default_rng(seed)
    sizes = STRIDED.n_neurons()
    counts = {name: rng.poisson(rng.gamma(0.5, 2.0, n)).astype(np.int64) for name, n in
              sizes.items()}  # fmt: skip
    counts["conv2"][:] = 0  # a silent layer: edges 0..1 Hz, every neuron in the first bin
    return SpikeCounts(n_images=2, n_steps=10, dt=0.001, counts=counts,
                       active=dict.fromkeys(sizes, 1))  # fmt: skip


def _rows(seed=0, params_id="abc"):
    return spike_rows(STRIDED, _counts(seed), params_id=params_id, params_sha256="f" * 64,
                      train_seed=seed, eval_seed=0)  # fmt: skip


def test_spike_rows_carry_the_rate_histogram_and_old_files_stay_readable(tmp_path):
    counts = _counts()
    rows = _rows()
    for r in rows:
        rates = counts.counts[r["layer"]] / (2 * 10 * 0.001)
        edges, hist = np.asarray(r["rate_hist_edges_hz"]), np.asarray(r["rate_hist_counts"])
        assert len(edges) == SPIKE_HIST_BINS + 1 and len(hist) == SPIKE_HIST_BINS
        assert hist.sum() == r["n_neurons"] and edges[0] == 0.0
        assert edges[-1] == (rates.max() if rates.max() > 0 else 1.0)
        np.testing.assert_array_equal(hist, np.histogram(rates, bins=edges)[0])
    assert rows[2]["rate_hist_counts"][0] == rows[2]["n_neurons"]  # silent: the first bin
    write_spikes(tmp_path, rows)
    assert read_spikes(tmp_path, "abc", 0, 0) == rows
    # a spikes-v1 file (before the histogram) is read, without the histogram columns
    old = [{k: v for k, v in r.items() if not k.startswith("rate_hist")} | {"params_id": "old"}
           for r in rows]  # fmt: skip
    path = tmp_path / SPIKES_DIR / spike_file_name("old", 0, 0)
    pq.write_table(pa.Table.from_pylist(old, schema=SPIKE_SCHEMA_V1), path)
    assert read_spikes(tmp_path, "old", 0, 0) == old
    # a file whose rows are of another parameter set than its name says is not read
    pq.write_table(pa.Table.from_pylist(old, schema=SPIKE_SCHEMA_V1),
                   tmp_path / SPIKES_DIR / spike_file_name("renamed", 0, 0))  # fmt: skip
    assert read_spikes(tmp_path, "renamed", 0, 0) is None
    # a file of neither schema is not read
    path.write_bytes(b"not parquet")
    assert read_spikes(tmp_path, "old", 0, 0) is None


def test_the_histograms_plot_the_fraction_of_neurons_per_bin(tmp_path):
    entries = [
        {"params_id": pid, "recipe": "base", "train_seed": seed, "eval_seed": 0,
         "n_images": 2, "n_steps": 10, "layers": _rows(seed, pid)}
        for seed, pid in ((0, "p0"), (1, "p1"))
    ]  # fmt: skip
    fig = spike_histograms_figure(entries)
    assert [ax.get_title() for ax in fig.axes] == [
        f"{name} ({n} neurons)" for name, n in STRIDED.n_neurons().items()
    ]
    for entry in entries:
        for r in entry["layers"]:
            values, edges, _ = _one(fig, f"hist:{entry['params_id']}:{r['layer']}").get_data()
            np.testing.assert_allclose(edges, r["rate_hist_edges_hz"])
            np.testing.assert_allclose(values, np.asarray(r["rate_hist_counts"]) / r["n_neurons"])
    check_png(plot_spike_histograms(tmp_path / "h.png", entries))
    # entries from spikes-v1 files have no histogram: left out, and alone nothing to draw
    old = {**entries[1], "layers": [{k: v for k, v in r.items() if not k.startswith("rate_h")}
                                    for r in entries[1]["layers"]]}  # fmt: skip
    assert [h["params_id"] for h in spike_histograms([entries[0], old])["conv0"]] == ["p0"]
    with pytest.raises(ValueError, match="no firing-rate histograms"):
        spike_histograms_figure([old])


def test_the_spike_rate_boxes_show_the_percentiles():
    entry = {"params_id": "p0", "recipe": "base", "train_seed": 0, "eval_seed": 0,
             "n_images": 2, "n_steps": 10, "layers": _rows()}  # fmt: skip
    fig = spike_rates_figure([entry])
    for r in entry["layers"]:
        median = _one(fig, f"median:p0:{r['layer']}")
        assert list(median.get_ydata()) == pytest.approx([r["p50_rate_hz"]] * 2)


# --------------------------------------------------------------------------------------------
# digits.png and outputs_over_time.png
# --------------------------------------------------------------------------------------------


def test_the_image_grid_and_the_output_traces_show_the_inputs(digits):
    images, labels = digits
    predictions = labels.copy()
    predictions[1] = (labels[1] + 1) % 10
    fig = digits_figure(images, labels, predictions=predictions, n=4)
    for i, ax in enumerate(fig.axes[:4]):
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i].reshape(28, 28))
        assert ax.get_title() == f"label {labels[i]}, pred {predictions[i]}"
    assert fig.axes[1].title.get_color() == "red" and fig.axes[0].title.get_color() == "black"
    outputs = np.random.default_rng(2).random((3, 7, 10))
    fig = outputs_over_time_figure(images[:3], outputs, labels[:3], dt=0.002, n=3)
    for i in range(3):
        lines = fig.axes[2 * i + 1].get_lines()
        assert len(lines) == 10
        for d, line in enumerate(lines):
            np.testing.assert_allclose(line.get_xdata(), 0.002 * np.arange(1, 8))
            np.testing.assert_allclose(line.get_ydata(), outputs[i, :, d])
    legend = fig.axes[1].get_legend()
    assert legend.get_title().get_text() == "class"
    assert [t.get_text() for t in legend.get_texts()] == [str(k) for k in range(10)]
    # MNIST's class names are its numbers: the titles stay "label L, pred P"
    names = [str(k) for k in range(10)]
    fig = digits_figure(images, labels, predictions=predictions, n=4, class_names=names)
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        f"label {labels[i]}, pred {predictions[i]}" for i in range(4)
    ]


RGB_NAMES = ["cat", "dog", "airplane", "ship", "frog"]


def test_rgb_images_of_named_classes_are_drawn_in_colour(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.random((6, 16, 16, 3))
    rows = images.reshape(6, -1)  # channels last, as the network reads them
    labels = np.array([0, 1, 2, 3, 4, 0])
    predictions = np.array([0, 2, 2, 3, 4, 1])
    fig = digits_figure(rows, labels, predictions=predictions, n=6, image_shape=(16, 16, 3),
                        class_names=RGB_NAMES)  # fmt: skip
    for i, ax in enumerate(fig.axes[:6]):
        shown = ax.images[0].get_array()
        assert shown.shape == (16, 16, 3)
        np.testing.assert_allclose(shown, images[i])
    assert fig.axes[1].get_title() == "dog, pred airplane"
    assert fig.axes[1].title.get_color() == "red" and fig.axes[0].get_title() == "cat, pred cat"
    outputs = rng.random((6, 9, 5))
    fig = outputs_over_time_figure(rows, outputs, labels, n=3, image_shape=(16, 16, 3),
                                   class_names=RGB_NAMES)  # fmt: skip
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    assert [fig.axes[2 * i].get_title() for i in range(3)] == RGB_NAMES[:3]
    assert [len(fig.axes[2 * i + 1].get_lines()) for i in range(3)] == [5, 5, 5]
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == RGB_NAMES
    assert legend.get_title().get_text() == "class"
    # (N, h, w, c) arrays bring their shape; the PNGs are written
    check_png(plot_digits(tmp_path / "d.png", images, labels, class_names=RGB_NAMES))
    check_png(plot_outputs_over_time(tmp_path / "o.png", images, outputs, labels))
    with pytest.raises(ValueError, match="5 names, but there are 4 classes"):
        outputs_over_time_figure(rows, outputs[:, :, :4], labels, image_shape=(16, 16, 3),
                                 class_names=RGB_NAMES)  # fmt: skip
    with pytest.raises(ValueError, match="labels must be class indices 0..4"):
        digits_figure(rows, labels + 1, image_shape=(16, 16, 3), class_names=RGB_NAMES)


def test_other_channel_counts_show_the_channel_mean_in_gray():
    images = np.random.default_rng(4).random((2, 6, 10, 2))  # h 6, w 10, 2 channels
    fig = digits_figure(images.reshape(2, -1), [0, 1], n=2, image_shape=(6, 10, 2))
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images[0].mean(axis=2))
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    gray = digits_figure(images[:, :, :, 0].reshape(2, -1), [0, 1], image_shape=(6, 10, 1))
    np.testing.assert_array_equal(gray.axes[1].images[0].get_array(), images[1, :, :, 0])


def test_a_row_length_that_is_no_square_needs_the_image_shape():
    rows = np.zeros((3, 16 * 16 * 3))  # 768 values: not a square single-channel image
    for draw in (
        lambda: digits_figure(rows, [0, 1, 2]),
        lambda: outputs_over_time_figure(rows, np.zeros((3, 4, 5)), [0, 1, 2]),
    ):
        with pytest.raises(ValueError, match=r"768 values.*pass image_shape=\(height, width"):
            draw()
    with pytest.raises(ValueError, match=r"\(N, 300\) for image_shape \(10, 10, 3\)"):
        digits_figure(rows, [0, 1, 2], image_shape=(10, 10, 3))
    with pytest.raises(ValueError, match="image_shape must be 3 positive integers"):
        digits_figure(rows, [0, 1, 2], image_shape=(16, 48))


def test_a_confusion_matrix_of_five_named_classes(tmp_path):
    labels = np.array([0, 0, 1, 1, 2, 3, 4, 4, 4, 2])
    predictions = np.array([0, 1, 1, 1, 2, 3, 4, 0, 4, 3])
    counts = confusion_counts(labels, predictions, 5)
    assert counts.shape == (5, 5) and counts.sum() == 10 and counts[4, 0] == 1
    errors = class_errors(counts)
    fig = confusion_figure({"a": counts, "b": counts.T}, n_steps=20, class_names=RGB_NAMES)
    for ax in fig.axes[:2]:
        assert [t.get_text() for t in ax.get_xticklabels()] == RGB_NAMES
        assert ax.get_xlabel() == "predicted class"
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [f"{n}: {100 * e:.1f}%" for n, e in zip(RGB_NAMES, errors)]
    assert ticks[0] == "cat: 50.0%"
    assert [c.get_text() for c in tagged(fig, "cell:a:4:0")] == ["1"]
    assert fig.axes[-1].get_ylabel() == "fraction of the true class's images"  # the colourbar
    check_png(plot_confusion(tmp_path / "c.png", {"": counts}, n_steps=20, class_names=RGB_NAMES))
    # refused: labels or predictions outside 0..K-1, panels of different K, wrong names
    with pytest.raises(ValueError, match="labels must be class indices 0..4"):
        confusion_counts([0, 5], [0, 1], 5)
    with pytest.raises(ValueError, match="predictions must be class indices 0..4"):
        confusion_counts([0, 1], [-1, 1], 5)
    with pytest.raises(ValueError, match="whole class indices"):
        confusion_counts([0, 1.5], [0, 1], 5)
    with pytest.raises(ValueError, match="n_classes"):
        confusion_counts([0, 1], [0, 1], 1)
    with pytest.raises(ValueError, match="different shapes"):
        confusion_figure({"a": counts, "b": np.zeros((10, 10), int)}, n_steps=20)
    with pytest.raises(ValueError, match="square"):
        confusion_figure({"a": np.zeros((5, 4), int)}, n_steps=20)
    with pytest.raises(ValueError, match="4 names, but there are 5 classes"):
        confusion_figure({"a": counts}, n_steps=20, class_names=RGB_NAMES[:4])


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    images = np.zeros((20, 28, 28))
    images[:, 6:22, 10:18] = rng.random((20, 16, 8))
    return images.reshape(20, 784), rng.integers(0, 10, size=20)
