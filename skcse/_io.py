"""Reading skcse's input files, and atomic writes: a file is complete under its name or absent."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EncodingError", "apply_umask", "atomic_write", "check_writable", "read_table"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, exclusive: bool = False) -> Iterator[BinaryIO]:
    """Open a new temporary file beside ``path``; on success it replaces ``path``.

    The file is flushed and fsynced before the rename. On any exception (KeyboardInterrupt
    included) the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The final file. Its folder is created if needed.
    exclusive : bool, default=False
        Only create ``path``: if a file is there at the end (another process wrote it
        meanwhile), it is left as it is.

    Yields
    ------
    BinaryIO
        The open temporary file; its ``name`` is the temporary path.

    Raises
    ------
    FileExistsError
        With ``exclusive``, if ``path`` exists when the file is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder: os.replace is only atomic within one file system,
    # and concurrent writers must not write into each other's file.
    # Cut so that a name the file system takes (255 bytes) still does with the suffixes.
    tmp = target.with_name(f".{target.name[:180]}.{uuid.uuid4().hex[:16]}.part")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            _link(tmp, target)
            tmp.unlink(missing_ok=True)  # the link's other name
        else:
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _link(tmp: Path, target: Path) -> None:
    """Give the complete ``tmp`` the name ``target`` unless that name is taken."""
    taken = FileExistsError(f"{target} appeared while it was being written; it is left as it is.")
    try:
        os.link(tmp, target)  # refuses an existing target, in one step
    except FileExistsError:
        raise taken from None
    except OSError:
        # A file system without hard links: a check, then the rename.
        if target.exists():
            raise taken from None
        os.replace(tmp, target)


def _umask() -> int:
    # Linux reports the umask without changing it; setting it to read it back, the fallback,
    # briefly changes it for every thread of the process.
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)[1], 8)
    except (OSError, TypeError):
        umask = os.umask(0o022)
        os.umask(umask)
        return umask


def apply_umask(path: str | os.PathLike[str]) -> None:
    """Give a file, or a folder and all it holds, the modes a new one gets under the umask.

    Temporary files and folders are private (``mkdtemp``, ``NamedTemporaryFile``); what is
    moved from them into place is meant to be shared like any file the user writes.

    Parameters
    ----------
    path : str or path-like
        A file or a folder.
    """
    umask = _umask()
    if not os.path.isdir(path):
        os.chmod(path, 0o666 & ~umask)
        return
    for root, _, files in os.walk(path):
        os.chmod(root, 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check, before any work, that ``path`` can be created; nothing is created here.

    Parameters
    ----------
    path : str or path-like
        A file or folder to be written. Missing parent folders are fine: the nearest one
        that exists must be a writable folder.

    Raises
    ------
    NotADirectoryError
        If that nearest existing parent is a file.
    PermissionError
        If it is not writable (no permission, or a read-only file system).
    """
    target = Path(path).absolute()
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"Cannot write {target}: {ancestor} is a file, not a folder.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Cannot write {target}: {ancestor} is not writable (no permission, or a read-only "
            "file system); choose another location."
        )


class EncodingError(ValueError):
    """A file is not text in the expected encoding; the message names the file and line."""


def read_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] = (),
    *,
    encoding: str = "utf-8",
    kind: Literal["csv", "tsv", "lines"] | None = None,
) -> pd.DataFrame:
    r"""Read a CSV, TSV or text file into a frame of strings, keeping every row.

    This is the one reader of skcse's inputs, so that the command line and the data set
    loader see the same rows. Nothing is dropped or converted here: callers decide what to
    do with empty texts, and report what they drop.

    Parameters
    ----------
    path : str or path-like
        The file to read.
    columns : sequence of str, default=()
        Columns that must be present. For a text file, at most one name, which names its
        single column (``"text"`` if none is given).
    encoding : str, default="utf-8"
        The file's text encoding. A UTF-8 byte order mark is ignored.
    kind : {"csv", "tsv", "lines"} or None, default=None
        ``"csv"``: comma-separated with a header row; ``"tsv"``: the same, tab-separated;
        ``"lines"``: one text per line. None picks by suffix: ``.csv``, ``.tsv``, else lines.

    Returns
    -------
    frame : pandas.DataFrame
        One row per data row of a CSV or TSV file, or per line of a text file, in file
        order, index ``0..n-1``. Every cell is a ``str`` or missing: in a CSV or TSV only a
        truly empty field (or a blank line) is missing (NaN), so that texts such as
        ``"NA"``, ``"null"``, ``"None"`` or ``"nan"`` stay texts. In a text file a blank
        line is the empty string, and the newline ending the last line does not start
        another one.

    Raises
    ------
    EncodingError
        If the file cannot be decoded with ``encoding``; the message names the line. It is a
        ``ValueError``.
    ValueError
        If the file is empty or has no data row, is not valid CSV, has a row with more
        non-empty fields than its header (an unquoted separator inside a text; empty fields
        after the last, as spreadsheets write, are ignored), or lacks one of ``columns``.
    OSError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skcse._io import read_table
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "texts.csv"
    >>> _ = file.write_text("Text,Cat1\nNA,a\n,b\n")
    >>> read_table(file, ["Text"])["Text"].tolist()
    ['NA', nan]
    """
    import pandas as pd

    file = Path(path)
    if kind is None:
        kind = table_kind(file)
    try:
        if kind == "lines":
            if len(columns) > 1:
                raise ValueError(
                    f"{file} is a text file with one text per line; it has no columns "
                    f"{list(columns)[1:]} (use a CSV file for those)."
                )
            text = file.read_text(encoding=encoding).removeprefix("\ufeff")
            if text == "":
                raise ValueError(f"{file} is empty; expected one text per line.")
            # The newline that ends the last line does not start an empty line after it.
            lines = text.removesuffix("\n").split("\n")
            return pd.DataFrame({columns[0] if columns else "text": lines}, dtype=object)
        sep = "\t" if kind == "tsv" else ","
        try:
            with warnings.catch_warnings():
                # Fields beyond the header's (an unquoted separator in a text) are dropped
                # by pandas with only this warning: the texts would be cut.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    file,
                    sep=sep,
                    encoding=encoding,
                    dtype=str,
                    # Only a truly empty field is missing: a text reading "NA" is a text.
                    keep_default_na=False,
                    na_values=[""],
                    # A blank line is an empty row, not nothing: skipping it shifts the rows.
                    skip_blank_lines=False,
                    # Else a row with one field more (a separator ending every row, as
                    # spreadsheets export) makes its first field an index: columns shift.
                    index_col=False,
                )
        except pd.errors.ParserWarning:
            raise ValueError(_extra_fields(file, sep, encoding)) from None
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{file} is empty; expected a header row"
                + (f" with the columns {', '.join(columns)}." if columns else ".")
            ) from None
        except pd.errors.ParserError as exc:
            raise ValueError(f"{file} could not be parsed as CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise EncodingError(_decode_error(file, encoding)) from exc
    for column in columns:
        if column not in frame.columns:
            raise ValueError(
                f"{file} has no column {column!r}; columns found: {list(frame.columns)}."
            )
    if frame.empty:
        raise ValueError(f"{file} has a header but no rows.")
    return frame


def table_kind(path: str | os.PathLike[str]) -> Literal["csv", "tsv", "lines"]:
    """Return how :func:`read_table` reads ``path`` by default, from its suffix."""
    return {".csv": "csv", ".tsv": "tsv"}.get(Path(path).suffix.lower(), "lines")


def _extra_fields(file: Path, sep: str, encoding: str) -> str:
    """Name the first row with more non-empty fields than the header; pandas names none."""
    import csv

    with open(file, encoding=encoding, newline="") as handle:
        rows = csv.reader(handle, delimiter=sep)
        header = next(rows)
        for row in rows:
            if any(row[len(header) :]):
                return (
                    f"{file} line {rows.line_num} has {len(row)} fields but the header has "
                    f"{len(header)}; quote the texts that contain {sep!r}."
                )
    return f"{file} has a row with more fields than its header."


def _decode_error(file: Path, encoding: str) -> str:
    """Say where ``file`` stops being ``encoding`` text; pandas' own offset is per chunk."""
    data = file.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"{file} is not {encoding} text: byte 0x{data[exc.start]:02x} on line {line} "
            f"cannot be decoded ({exc.reason})."
        )
    return f"{file} is not {encoding} text."
