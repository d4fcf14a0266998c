"""Write docs/thesis.md's table of families from the file `namelstm cv --model A,B,...` wrote.

    python scripts/thesis_table.py outputs/cv/families/families.json

Copies the file to docs/families.json and rewrites the page's `<!-- families -->` block from it, so
tests/test_docs.py can hold the page to the file.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from namelstm.experiments.docblocks import write_block
from namelstm.experiments.families import families_markdown
from namelstm.runs import read_json

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", type=Path, help="families.json of `namelstm cv --model A,B,...`")
    args = parser.parse_args()
    shutil.copyfile(args.families, DOCS / "families.json")
    write_block(DOCS / "thesis.md", "families", families_markdown(read_json(DOCS / "families.json")))


if __name__ == "__main__":
    main()
