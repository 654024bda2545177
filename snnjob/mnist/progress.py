"""Download progress: the callback type of :func:`snnjob.mnist.fetch` and its tqdm bars."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm

__all__ = ["ProgressCallback", "TqdmBars", "reporter"]

#: ``progress(file_name, bytes_done, bytes_total_or_None)``, called when a download
#: starts (``bytes_done == 0``) and after each chunk.
ProgressCallback = Callable[[str, int, int | None], None]


class TqdmBars:
    """A :data:`ProgressCallback` drawing one tqdm byte bar per download on stderr."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._done = 0

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if done == 0 or self._bar is None:  # a download (or a retry on the next mirror) starts
            self.close()
            tty = sys.stderr.isatty()
            self._bar = tqdm(
                total=total,
                desc=name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                mininterval=0.5 if tty else 10.0,
                dynamic_ncols=tty,
            )
            self._done = 0
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def reporter(progress: ProgressCallback | bool | None) -> Iterator[ProgressCallback]:
    """Turn :func:`~snnjob.mnist.fetch`'s ``progress`` argument into a callback.

    False or None: a no-op; True: :class:`TqdmBars`, closed on exit; a callable: itself.
    """
    if not progress:
        yield lambda name, done, total: None
    elif progress is True:
        bars = TqdmBars()
        try:
            yield bars
        finally:
            bars.close()
    else:
        yield progress
