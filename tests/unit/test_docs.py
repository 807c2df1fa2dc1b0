"""The documentation site: its runnable examples run, and what it states from the code is
still what the code says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import providers
from gateway.emulator import failure_table_markdown, limits_table_markdown
from providers.base import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [
    pytest.param(block, id=f"{page.relative_to(DOCS)}:{n}")
    for page in PAGES
    for n, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.S))
    if block.startswith("# runnable")
]


def test_docs_have_runnable_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS)
def test_docs_example_runs(block: str) -> None:
    exec(compile(block, "docs", "exec"), {})  # noqa: S102 - our own documentation


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    missing = [p for p in PAGES if str(p.relative_to(DOCS)) not in nav]
    assert not missing


def _bullets(text: str, heading: str) -> set[str]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `(\w+)`:", section, re.M))


@pytest.mark.parametrize("name", providers.adapter_names())
def test_provider_page_matches_the_adapter(name: str) -> None:
    text = (DOCS / "providers" / f"{name}.md").read_text("utf-8")
    cls = providers.adapter_class(name)
    assert _bullets(text, "What it supports") == set(cls.capabilities)
    assert _bullets(text, "What it refuses") == set(CAPABILITIES) - set(cls.capabilities)
    assert f"longer than {cls.flow_cta_max} characters" in text
    for table in (failure_table_markdown(), limits_table_markdown()):
        rows = [r for r in table.splitlines() if r.startswith(f"| `{name}` |")]
        assert rows
        assert all(r in text for r in rows)


def test_provider_pages_share_one_form() -> None:
    forms = {
        p.name: re.findall(r"^## (.*)$", p.read_text("utf-8"), re.M)
        for p in (DOCS / "providers").glob("*.md")
    }
    assert sorted(forms) == sorted(f"{n}.md" for n in providers.adapter_names())
    assert len({tuple(f) for f in forms.values()}) == 1
