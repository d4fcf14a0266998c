"""The marked blocks of the docs that commands write: `<!-- NAME -->` ... `<!-- /NAME -->`.

A figure on a page between such marks was written there from a file a command produced, and a test
reads the block back to check it against that file (tests/test_docs.py, tests/test_bench_script.py).
"""

from __future__ import annotations

from pathlib import Path


def _marks(name: str) -> tuple[str, str]:
    return f"<!-- {name} -->\n", f"\n<!-- /{name} -->"


def read_block(page: Path, name: str) -> str:
    """The text between `page`'s marks of block `name`."""
    start, end = _marks(name)
    content = page.read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise SystemExit(f"{page} has no <!-- {name} --> ... <!-- /{name} --> block")
    return content.split(start, 1)[1].split(end, 1)[0]


def write_block(page: Path, name: str, text: str) -> None:
    """Replace the text between `page`'s marks of block `name` with `text`."""
    start, end = _marks(name)
    content = page.read_text(encoding="utf-8")
    read_block(page, name)  # refuses a page without the block
    before, rest = content.split(start, 1)
    after = rest.split(end, 1)[1]
    page.write_text(f"{before}{start}{text.rstrip(chr(10))}{end}{after}", encoding="utf-8")
