#!/usr/bin/env python3
"""Regenerate the README settings table from ``tap-chatgpt-compliance --about --format=markdown``.

The table lives between ``<!-- settings:start -->`` and ``<!-- settings:end -->`` in README.md.

    python scripts/update_readme_settings.py          # rewrite the block
    python scripts/update_readme_settings.py --check  # exit 1 if the README has drifted
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def about_markdown(executable: str | None = None) -> str:
    """Return the tap's ``--about --format=markdown`` output."""
    exe = executable or str(Path(sys.executable).with_name("tap-chatgpt-compliance"))
    return subprocess.run(
        [exe, "--about", "--format=markdown"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def settings_block(markdown: str) -> str:
    """Extract the settings table (and the SDK's closing note) from ``--about`` markdown."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Setting"))
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip() + "\n"


def render(readme: str, block: str) -> str:
    """Return the README text with the settings block replaced."""
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def main() -> int:
    """Write or check the README settings table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    args = parser.parse_args()
    current = README.read_text()
    wanted = render(current, settings_block(about_markdown()))
    if current == wanted:
        return 0
    if args.check:
        print(
            "README.md settings table is out of date: run `make readme-settings`", file=sys.stderr
        )
        return 1
    README.write_text(wanted)
    print("updated README.md settings table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
