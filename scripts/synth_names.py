"""Write N realistic-looking names per language, for throughput and memory tests only.

Each language gets a character-level Markov model (order 2 by default) fitted on its tutorial file;
names are sampled from it with a seeded `random.Random`. The names look plausible but are made up:
never use them for accuracy claims.

    python scripts/synth_names.py --per-language 111112 --out /tmp/synth            # 18 <Language>.txt files
    python scripts/synth_names.py --per-language 1000 --out /tmp/synth.csv          # one CSV: name,language
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from bisect import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from tqdm import tqdm

from namelstm.data.names import resolve_data_dir
from namelstm.errors import NamelstmError
from namelstm.runs import atomic_write_bytes

START, END = "\x02", "\x03"  # padding before a name and its end mark: never letters of a name
MAX_LENGTH = 24  # a sampled name stops here at the latest, as real surnames do


@dataclass(frozen=True)
class MarkovNames:
    """Next-letter counts after each `order`-letter context of one language's names.

    `sample` draws a name letter by letter from those counts.
    """

    order: int
    table: dict[str, tuple[str, list[int]]]  # context -> (next letters, cumulative counts)

    @classmethod
    def fit(cls, names: list[str], order: int) -> MarkovNames:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for name in names:
            padded = START * order + name + END
            for i in range(order, len(padded)):
                counts[padded[i - order : i]][padded[i]] += 1
        return cls(order, {ctx: ("".join(c), list(accumulate(c.values()))) for ctx, c in counts.items()})

    def sample(self, rng: random.Random) -> str:
        context, letters = START * self.order, []
        while len(letters) < MAX_LENGTH:
            nexts, cumulative = self.table[context]
            letter = nexts[bisect(cumulative, rng.random() * cumulative[-1])]
            if letter == END:
                break
            letters.append(letter)
            context = context[1:] + letter
        return "".join(letters).strip() or "A"


def synthesize(source: Path, per_language: int, order: int, seed: int) -> dict[str, list[str]]:
    """`per_language` sampled names for each `<Language>.txt` file of `source`."""
    rng = random.Random(seed)
    names: dict[str, list[str]] = {}
    for path in tqdm(sorted(Path(source).glob("*.txt")), desc="sampling", unit="language"):
        model = MarkovNames.fit(
            [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()], order
        )
        names[path.stem] = [model.sample(rng) for _ in range(per_language)]
    return names


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-language", type=int, required=True, help="names per language")
    parser.add_argument(
        "--out", type=Path, required=True, help="a directory (one <Language>.txt each) or a .csv file"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="the tutorial files to fit on [default: as namelstm train]"
    )
    parser.add_argument("--order", type=int, choices=(2, 3), default=2, help="letters of context")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = synthesize(resolve_data_dir(args.data_dir), args.per_language, args.order, args.seed)
    if args.out.suffix.lower() == ".csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "language"])
        writer.writerows((name, language) for language, group in names.items() for name in group)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, buffer.getvalue().encode())
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        for language, group in names.items():
            atomic_write_bytes(args.out / f"{language}.txt", ("\n".join(group) + "\n").encode())
    total = sum(map(len, names.values()))
    about = f"{args.per_language:,} per language, order {args.order}"
    print(f"wrote {total:,} synthetic names ({about}) to {args.out}")


if __name__ == "__main__":
    try:
        main()
    except NamelstmError as err:  # one line, as the CLI does
        sys.exit(f"error: {err}")
