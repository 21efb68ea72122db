"""The README's Python examples run as written."""

from __future__ import annotations

import re

import pytest

from conftest import REPO


def _python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.integration
def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = _python_blocks(REPO / "README.md")
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:  # later blocks reuse earlier names, as a reader would
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["X"].shape == (8, 384)
