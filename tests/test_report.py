"""The one Markdown table renderer of skcse compare, the docs and the benchmarks."""

from __future__ import annotations

import pytest

from skcse._report import markdown_table


def test_table_has_a_header_a_rule_of_alignments_and_one_line_per_row():
    table = markdown_table(
        ["name", "score", "mid"],
        [["a", "0.5", 1], ["b", 2, "x"]],
        align=["left", "right", "center"],
    )
    assert (
        table == "| name | score | mid |\n| --- | ---: | :---: |\n| a | 0.5 | 1 |\n| b | 2 | x |\n"
    )


def test_columns_are_left_aligned_by_default_and_rows_may_be_empty():
    assert markdown_table(["a", "b"], []) == "| a | b |\n| --- | --- |\n"


def test_a_pipe_in_a_cell_does_not_start_a_column():
    assert markdown_table(["params"], [["a|b"]]).splitlines()[-1] == r"| a\|b |"


def test_rows_are_consumed_once_from_a_generator():
    table = markdown_table(["n"], ([i] for i in range(3)))
    assert table.splitlines()[2:] == ["| 0 |", "| 1 |", "| 2 |"]


@pytest.mark.parametrize(
    ("rows", "align", "match"),
    [
        ([["only one"]], None, "has 1 cells for 2 columns"),
        ([], ["left"], "one of"),
        ([], ["left", "middle"], "one of"),
    ],
)
def test_mismatched_rows_or_alignments_are_refused(rows, align, match):
    with pytest.raises(ValueError, match=match):
        markdown_table(["a", "b"], rows, align=align)
