"""Atomic file writes: a file is either complete under its final name or absent."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a new temporary file beside ``path``; on success it replaces ``path``.

    The file is flushed and fsynced before the rename. On any exception (KeyboardInterrupt
    included) the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The final file. Its folder is created if needed.

    Yields
    ------
    BinaryIO
        The open temporary file; its ``name`` is the temporary path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder: os.replace is only atomic within one file system,
    # and concurrent writers must not write into each other's file.
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
