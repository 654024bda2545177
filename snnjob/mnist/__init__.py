"""IDX data sets (MNIST, Fashion-MNIST): locate, verify, download, parse and cache them.

Each data set is four files in the IDX format, either gzip-compressed (``<name>.gz``, as
published) or decompressed (``<name>``; preferred when both exist), described by one
:class:`IdxSource` (file names and SHA-256s, mirrors, cache sub-folder, image shape,
class names, counts): :data:`MNIST_SOURCE` and :data:`FASHION_MNIST_SOURCE`, in
:data:`SOURCES`. The flow, which :func:`load_mnist` (:func:`load_idx` for any source) runs
end to end:

1. **locate** -- :func:`resolve_data_dir` looks at the ``data_dir`` argument, then
   ``$SNNJOB_DATA_DIR`` (Fashion-MNIST: ``$SNNJOB_DATA_DIR/fashion_mnist``, never the
   MNIST folder itself: the files have the same names), then the cache folder
   :func:`cache_dir` (``<user cache>/snnjob/mnist`` or ``.../fashion_mnist``); a folder
   named by the argument or the variable must hold all four files (no silent
   fall-through);
2. **verify** -- an MNIST file's SHA-256 is that of its *decompressed* content and must
   equal :data:`FILES`; Fashion-MNIST publishes only the SHA-256 of its ``.gz`` files
   (:data:`FASHION_FILES`), so a decompressed Fashion-MNIST file gets its structure
   checked, and that it is not an MNIST file, but no hash (:func:`verify` says which check
   each file got, and reports every problem at once);
3. **download** -- if no folder holds the files, :func:`fetch` downloads the missing or
   invalid ones from the source's mirrors into its cache folder, checking each download
   before renaming it into place (a failed one leaves nothing behind);
4. **parse** -- each IDX header and payload is checked (magic number, shape, length,
   label range) and turned into float32 images in [0, 1] and int64 labels;
5. **cache** -- the read-only arrays are kept in-process per source and folder until a
   file changes or :func:`clear_cache` is called.

Submodules (imports flow one way, top to bottom):

- :mod:`snnjob.mnist.files` -- the sources: file names and hashes, mirrors, cache
  folders, lookup order.
- :mod:`snnjob.mnist.idx` -- reading ``.gz`` or raw IDX files, header checks, SHA-256, verify.
- :mod:`snnjob.mnist.progress` -- the download progress callback type and its tqdm bars.
- :mod:`snnjob.mnist.download` -- streaming downloads with atomic installs, :func:`fetch`.
- :mod:`snnjob.mnist.load` -- :func:`load_mnist`, :func:`load_idx`, the :class:`MNIST`
  arrays, the cache; :func:`check_files`, the checks of steps 1 and 4 that need no
  payload (milliseconds).

To override the mirrors, set ``snnjob.mnist.files.MIRRORS`` (or ``FASHION_MIRRORS``; the
names re-exported here are copies) or pass ``mirrors=`` to :func:`fetch`. The package's
one interface for every data set (these two and ``npz:PATH`` files) is
:mod:`snnjob.datasets`.
"""

from snnjob.mnist.download import fetch
from snnjob.mnist.files import (
    DATA_DIR_ENV,
    FASHION_FILES,
    FASHION_MIRRORS,
    FASHION_MNIST_SOURCE,
    FILES,
    MIRRORS,
    MNIST_SOURCE,
    SOURCES,
    FileHashes,
    IdxSource,
    cache_dir,
    resolve_data_dir,
)
from snnjob.mnist.idx import IMAGE_MAGIC, LABEL_MAGIC, verify
from snnjob.mnist.load import MNIST, check_files, clear_cache, load_idx, load_mnist

__all__ = [
    "DATA_DIR_ENV",
    "FASHION_FILES",
    "FASHION_MIRRORS",
    "FASHION_MNIST_SOURCE",
    "FILES",
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "MIRRORS",
    "MNIST",
    "MNIST_SOURCE",
    "SOURCES",
    "FileHashes",
    "IdxSource",
    "cache_dir",
    "check_files",
    "clear_cache",
    "fetch",
    "load_idx",
    "load_mnist",
    "resolve_data_dir",
    "verify",
]
