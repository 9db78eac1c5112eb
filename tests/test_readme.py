"""The README's Python examples run as written (each in a fresh namespace, from a folder
where ``sample_videos/`` is at hand, as it is in a checkout)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    """The ```python blocks of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_has_three_python_examples():
    assert len(python_blocks()) == 3


@pytest.mark.parametrize("index", range(3))
def test_readme_example_runs(tmp_path, monkeypatch, capsys, index):
    (tmp_path / "sample_videos").symlink_to(ROOT / "sample_videos")
    monkeypatch.chdir(tmp_path)
    exec(compile(python_blocks()[index], f"README.md example {index + 1}", "exec"), {})
    assert capsys.readouterr().out.strip()  # each example prints what it got
