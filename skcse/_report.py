"""Results tables as Markdown: the one renderer of skcse compare, the docs and the benchmarks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["markdown_table"]

_RULES = {"left": "---", "right": "---:", "center": ":---:"}


def markdown_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    align: Sequence[str] | None = None,
) -> str:
    """Render rows as a Markdown table.

    Parameters
    ----------
    columns : sequence of str
        The header cells.
    rows : iterable of sequence
        One sequence of cells per row, as many as ``columns``; each cell is shown with
        ``str``, so format numbers before.
    align : sequence of {"left", "right", "center"} or None, default=None
        Alignment of each column when the Markdown is rendered; None aligns every column
        left. Cells are not padded: the table is as short as Markdown allows.

    Returns
    -------
    str
        The table, one line per row after the header and rule lines, ending in a newline.

    Raises
    ------
    ValueError
        If a row or ``align`` does not have one entry per column, or an alignment is unknown.

    Examples
    --------
    >>> from skcse._report import markdown_table
    >>> rows = [["simcse", "0.412"]]
    >>> print(markdown_table(["stage", "V-measure"], rows, align=["left", "right"]))
    | stage | V-measure |
    | --- | ---: |
    | simcse | 0.412 |
    <BLANKLINE>
    """
    align = ["left"] * len(columns) if align is None else list(align)
    if len(align) != len(columns) or not set(align) <= set(_RULES):
        raise ValueError(
            f"align must give one of {sorted(_RULES)} per column ({len(columns)}), got {align!r}"
        )
    # A "|" inside a cell would start a new column.
    cells = [[str(cell).replace("|", r"\|") for cell in row] for row in rows]
    for row in cells:
        if len(row) != len(columns):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(columns)} columns")
    lines = [columns, [_RULES[a] for a in align], *cells]
    return "".join(f"| {' | '.join(map(str, line))} |\n" for line in lines)
