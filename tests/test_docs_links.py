"""The README and docs/ link only inside the repository: a clone is complete (issue 27)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)


def links(page: Path) -> list[str]:
    """Every markdown link target of ``page`` (fenced code is not a link)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return LINK.findall(text)


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    targets = links(page)
    for target in targets:
        assert not re.match(r"[a-z]+:", target), f"{page.name}: {target} leaves the repository"
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{page.name}: {target} points outside the clone"
        assert path.exists(), f"{page.name}: {target} does not exist"


def test_the_readme_links_the_original_document_in_the_clone() -> None:
    assert "docs/spec/agentos-jobs-api.md" in links(ROOT / "README.md")
