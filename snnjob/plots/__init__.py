"""PNG figures of a run (``OUT/plots/``); what each shows: ``docs/plots.md``.

Every ``plot_*`` function is pure: data in (arrays, a summary dict, counts), one PNG out,
written atomically (a hidden temporary file in the same folder, then :func:`os.replace`);
it returns the path. Its ``*_figure`` twin returns the :class:`matplotlib.figure.Figure`
instead, so the plotted values can be read back (artists carrying a summary's numbers are
tagged with a ``gid``: :func:`~snnjob.plots.common.tagged`), and the data helpers
(``seed_means``, ``rate_mode_lines``, ``synops_points``, ``confusion_counts``,
``spike_histograms``) return what is drawn. No module touches :mod:`matplotlib.pyplot`.

Submodules: :mod:`~snnjob.plots.common` (canvas, atomic write, colours),
:mod:`~snnjob.plots.digits` (inputs and outputs), :mod:`~snnjob.plots.steps` (error vs
n_steps), :mod:`~snnjob.plots.energy` (error vs synaptic operations),
:mod:`~snnjob.plots.confusion` (confusion matrix), :mod:`~snnjob.plots.firing` (firing
rates and their histograms).
"""

from snnjob.plots.common import tagged
from snnjob.plots.confusion import class_errors, confusion_counts, confusion_figure, plot_confusion
from snnjob.plots.digits import (
    digits_figure,
    outputs_over_time_figure,
    plot_digits,
    plot_outputs_over_time,
)
from snnjob.plots.energy import error_vs_synops_figure, plot_error_vs_synops, synops_points
from snnjob.plots.firing import (
    plot_spike_histograms,
    plot_spike_rates,
    spike_histograms,
    spike_histograms_figure,
    spike_rates_figure,
)
from snnjob.plots.steps import (
    error_vs_steps_figure,
    plot_error_vs_steps,
    rate_mode_lines,
    seed_means,
)

__all__ = [
    "class_errors",
    "confusion_counts",
    "confusion_figure",
    "digits_figure",
    "error_vs_steps_figure",
    "error_vs_synops_figure",
    "outputs_over_time_figure",
    "plot_confusion",
    "plot_digits",
    "plot_error_vs_steps",
    "plot_error_vs_synops",
    "plot_outputs_over_time",
    "plot_spike_histograms",
    "plot_spike_rates",
    "rate_mode_lines",
    "seed_means",
    "spike_histograms",
    "spike_histograms_figure",
    "spike_rates_figure",
    "synops_points",
    "tagged",
]
