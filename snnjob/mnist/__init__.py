"""MNIST data: locate it, verify it, download it if missing, parse it and cache it.

The four MNIST files are read in their original IDX format, either gzip-compressed
(``<name>.gz``, as published) or decompressed (``<name>``; preferred when both exist).
The flow, which :func:`load_mnist` runs end to end:

1. **locate** -- :func:`resolve_data_dir` looks at the ``data_dir`` argument, then
   ``$SNNJOB_DATA_DIR``, then the cache folder :func:`cache_dir`; a folder named by the
   argument or the variable must hold all four files (no silent fall-through);
2. **verify** -- a file's SHA-256 is that of its *decompressed* content and must equal
   :data:`FILES` (:func:`verify` checks a folder and reports every problem at once);
3. **download** -- if no folder holds the files, :func:`fetch` downloads the missing or
   invalid ones from :data:`MIRRORS` into the cache folder, checking each download
   before renaming it into place (a failed one leaves nothing behind);
4. **parse** -- each IDX header and payload is checked (magic number, shape, length,
   label range) and turned into float32 images in [0, 1] and int64 labels;
5. **cache** -- the read-only arrays are kept in-process per folder until a file
   changes or :func:`clear_cache` is called.

Submodules (imports flow one way, top to bottom):

- :mod:`snnjob.mnist.files` -- file names and hashes, mirrors, cache folder, lookup order.
- :mod:`snnjob.mnist.idx` -- reading ``.gz`` or raw IDX files, header checks, SHA-256, verify.
- :mod:`snnjob.mnist.progress` -- the download progress callback type and its tqdm bars.
- :mod:`snnjob.mnist.download` -- streaming downloads with atomic installs, :func:`fetch`.
- :mod:`snnjob.mnist.load` -- :func:`load_mnist`, the :class:`MNIST` arrays, the cache;
  :func:`check_files`, the checks of steps 1 and 4 that need no payload (milliseconds).

To override the mirrors, set ``snnjob.mnist.files.MIRRORS`` (the name re-exported here
is a copy) or pass ``mirrors=`` to :func:`fetch`.
"""

from snnjob.mnist.download import fetch
from snnjob.mnist.files import DATA_DIR_ENV, FILES, MIRRORS, FileHashes, cache_dir, resolve_data_dir
from snnjob.mnist.idx import IMAGE_MAGIC, LABEL_MAGIC, verify
from snnjob.mnist.load import MNIST, check_files, clear_cache, load_mnist

__all__ = [
    "DATA_DIR_ENV",
    "FILES",
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "MIRRORS",
    "MNIST",
    "FileHashes",
    "cache_dir",
    "check_files",
    "clear_cache",
    "fetch",
    "load_mnist",
    "resolve_data_dir",
    "verify",
]
