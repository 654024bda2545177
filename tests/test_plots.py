"""Tests of snnjob.plots: real PNG files written and read back."""

from __future__ import annotations

import datetime as dt

import matplotlib
import matplotlib.image
import numpy as np
import pytest

from snnjob.plots import plot_digits, plot_error_vs_steps, plot_outputs_over_time
from snnjob.results.schema import SHARD_COLUMNS
from snnjob.results.summary import summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path, *, min_side: int = 100) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > min_side and image.shape[1] > min_side
    assert image.std() > 0.01  # not a blank canvas
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files
    return image


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    images = np.zeros((20, 28, 28))
    images[:, 6:22, 10:18] = rng.random((20, 16, 8))
    labels = rng.integers(0, 10, size=20)
    return images.reshape(20, 784), labels


def summary_for(errors: dict[tuple[int, int, int], int]) -> dict:
    """Summary (as ``summary.json`` holds it) of one 1000-image shard per (train_seed,
    n_steps, eval_seed) -> n_errors."""
    rows = [
        {
            "params_id": "base",
            "params_sha256": "0" * 64,
            "train_seed": t,
            "n_steps": n,
            "eval_seed": s,
            "minibatch_size": 100,
            "shard_id": 0,
            "first_index": 0,
            "last_index": 999,
            "n_images": 1000,
            "n_errors": k,
            "wall_time_s": 3.0,
            "worker_node": "node",
            "worker_pid": 1,
            "finished_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        }
        for (t, n, s), k in errors.items()
    ]
    assert all(list(row) == [c.name for c in SHARD_COLUMNS] for row in rows)
    return summarize(rows).to_dict()


def test_plot_digits(tmp_path, digits):
    images, labels = digits
    path = plot_digits(tmp_path / "digits.png", images, labels)
    assert path == tmp_path / "digits.png"
    check_png(path)


def test_plot_digits_with_predictions_and_few_images(tmp_path, digits):
    images, labels = digits
    predictions = labels.copy()
    predictions[::3] = (labels[::3] + 1) % 10
    path = plot_digits(tmp_path / "sub" / "pred.png", images, labels, predictions=predictions, n=7)
    image = check_png(path)
    red = (image[..., 0] > 0.8) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.any()  # wrong predictions are titled in red
    # n larger than the number of images is fine
    check_png(plot_digits(tmp_path / "three.png", images[:3], labels[:3], n=16))


def test_plot_outputs_over_time(tmp_path, digits):
    images, labels = digits
    n_steps = 30
    t = np.arange(1, n_steps + 1)[:, None]
    outputs = np.tanh(t / 10.0) * np.linspace(-1, 1, 10)[None, :]
    outputs = np.repeat(outputs[None], 5, axis=0).astype(np.float32)
    path = plot_outputs_over_time(tmp_path / "outputs.png", images[:5], outputs, labels[:5])
    image = check_png(path)
    assert image.shape[0] > 500  # five rows


def test_plot_error_vs_steps_several_n_steps(tmp_path):
    summary = summary_for(
        {
            (0, 10, 0): 80,
            (0, 10, 1): 90,
            (0, 30, 0): 30,
            (0, 30, 1): 35,
            (0, 100, 0): 15,
            (0, 100, 1): 16,
        }
    )
    check_png(plot_error_vs_steps(tmp_path / "error.png", summary))


def test_plot_error_vs_steps_single_n_steps(tmp_path):
    summary = summary_for({(0, 50, 0): 20, (0, 50, 1): 25, (1, 50, 0): 22})
    check_png(plot_error_vs_steps(tmp_path / "error.png", summary))


def test_plot_error_vs_steps_reads_old_summaries(tmp_path):
    # summary.json points written before the rename call the evaluation seed "seed"
    summary = summary_for({(0, 10, 0): 80, (0, 10, 1): 90, (0, 30, 0): 30, (0, 30, 1): 35})
    old = {k: v for k, v in summary.items() if k != "schema"}  # as before the schema key
    old["points"] = [dict(p) for p in summary["points"]]
    for point in old["points"]:
        point["seed"] = point.pop("eval_seed")
    new_png = check_png(plot_error_vs_steps(tmp_path / "new" / "error.png", summary))
    old_png = check_png(plot_error_vs_steps(tmp_path / "old" / "error.png", old))
    np.testing.assert_array_equal(old_png, new_png)  # the same figure, seeds and all
    assert all("eval_seed" not in p for p in old["points"])  # the input is not modified


def test_plots_leave_no_pyplot_figures(tmp_path, digits):
    images, labels = digits
    plot_digits(tmp_path / "a.png", images, labels)
    import matplotlib.pyplot as plt  # only to check that no figure was registered

    assert plt.get_fignums() == []


def test_bad_inputs_are_refused(tmp_path, digits):
    images, labels = digits
    with pytest.raises(ValueError, match="image_shape"):
        plot_digits(tmp_path / "a.png", images[:, :99], labels)  # 99: no square, no shape
    with pytest.raises(ValueError, match="784"):
        plot_digits(tmp_path / "a.png", images[:, :100], labels, image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="png"):
        plot_digits(tmp_path / "a.jpg", images, labels)
    with pytest.raises(ValueError, match="n_steps"):
        plot_outputs_over_time(tmp_path / "b.png", images, np.zeros((5, 10)), labels)
    with pytest.raises(ValueError, match="no points"):
        plot_error_vs_steps(tmp_path / "c.png", {"points": [], "by_n_steps": []})
    assert list(tmp_path.iterdir()) == []


def test_plot_error_vs_steps_draws_the_curve_at_every_step(tmp_path):
    from snnjob.results.curves import summarize_curves

    # one simulation of 30 steps over 1000 images, errors falling from 900 to 30
    errors = np.linspace(900, 30, 30).astype(int)
    rows = [
        {"params_id": "base", "train_seed": 0, "eval_seed": s, "shard_id": 0, "first_index": 0,
         "last_index": 999, "step": t + 1, "n_images": 1000, "n_errors": int(e) + s}
        for s in (0, 1)
        for t, e in enumerate(errors)
    ]  # fmt: skip
    curves, problems = summarize_curves(rows, 1000)
    assert problems == [] and len(curves) == 2
    summary = summary_for({(0, 30, 0): int(errors[-1]), (0, 30, 1): int(errors[-1]) + 1})
    with_curve = check_png(
        plot_error_vs_steps(tmp_path / "c" / "e.png", {**summary, "curves": curves})
    )
    without = check_png(plot_error_vs_steps(tmp_path / "p" / "e.png", summary))
    assert with_curve.shape == without.shape and not np.array_equal(with_curve, without)
