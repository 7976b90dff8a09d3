"""Every relative link of the README, the docs and the changelog resolves: the file exists, and
an anchor (`docs/x.md#a-heading`) is a heading of that file (GitHub's slugs), or an explicit
`<a id>`. Fast: reads the Markdown only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "transform" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~)")


def unfenced(text: str) -> list[str]:
    """Return the lines of ``text`` outside its fenced code blocks (those inside as blanks)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        lines.append("" if fenced else line)
    return lines


def prose(text: str) -> str:
    """Return ``text`` without its fenced code blocks and inline code spans."""
    return "\n".join(re.sub(r"`[^`\n]*`", "", line) for line in unfenced(text))


def slug(heading: str) -> str:
    """Return GitHub's anchor of a heading: lower case, punctuation dropped, spaces as ``-``."""
    text = re.sub(r"<[^>]+>", "", heading.replace("`", "")).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Return every anchor of a Markdown file (repeated headings get ``-1``, ``-2``…)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = path.read_text(encoding="utf-8")
    for line in unfenced(text):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return found


def broken_links(path: Path) -> list[str]:
    """Return each relative link of ``path`` whose file or anchor does not exist."""
    broken = []
    for match in _LINK.finditer(prose(path.read_text(encoding="utf-8"))):
        target = match.group(1)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto:
            continue
        where, _, anchor = target.partition("#")
        destination = (path.parent / where).resolve() if where else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(document: Path) -> None:
    assert document.is_file()
    assert broken_links(document) == []


def test_the_check_sees_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Title\n## The key: `api_key` in AWS\n## Run\n## Run\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-key-api_key-in-aws) [ok](other.md#run-1) [ok](#here)\n"
        "## Here\n[gone](missing.md) [no anchor](other.md#keys) [web](https://x.invalid/a)\n"
        "```bash\n[in code](nowhere.md)\n```\n`[inline](nowhere.md)`\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#keys: no heading #keys in other.md",
    ]


def test_every_changelog_version_heading_has_its_link() -> None:
    """Keep a Changelog: each `## [version]` heading is a reference link defined at the end
    (`[0.1.0]: …/releases/tag/v0.1.0`), else GitHub shows the brackets as text."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    defined = set(re.findall(r"^\[([^\]]+)\]: https://\S+$", text, flags=re.M))
    assert headings
    assert headings[0] == "Unreleased"
    assert [h for h in headings if h not in defined] == []
