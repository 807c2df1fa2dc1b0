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


def test_the_docs_failure_table_is_the_emulators() -> None:
    from gateway.emulator import failure_table_markdown

    testing = README.parent / "docs" / "testing.md"  # the reference lives in the docs
    assert failure_table_markdown() in testing.read_text(encoding="utf-8")


def test_readme_links_to_docs_pages_that_exist() -> None:
    import re as re_

    links = re_.findall(r"\]\((docs/[^)#]+)", README.read_text(encoding="utf-8"))
    assert links
    assert [link for link in links if not (README.parent / link).is_file()] == []
