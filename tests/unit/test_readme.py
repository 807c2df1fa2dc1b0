"""README examples marked runnable are executed, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = [
    b
    for b in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    if b.startswith("# runnable")
]


def test_readme_has_runnable_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_example_runs(block: str) -> None:
    exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own README


def test_readme_failure_table_is_the_emulators() -> None:
    from gateway.emulator import failure_table_markdown

    assert failure_table_markdown() in README.read_text(encoding="utf-8")
