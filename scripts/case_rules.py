"""Which letter-case rule to use, chosen on the validation names: accuracy / balanced
accuracy of checkpoints on the validation names as written, upper-cased and lower-cased, under each
rule. The forms are handed to `Predictor.rank` as the rule made them, so what is measured is the
rule, not today's folding (which applies the rule that was chosen). The table in docs/trust.md came from:

    namelstm train --model lstm --out /tmp/lstm
    python scripts/case_rules.py --data-dir DIR pretrained /tmp/lstm /tmp/lstm3

where /tmp/lstm3, the case-variant arm, was trained on every line of every file three times (as
written, UPPER, lower; `--variants /tmp/names3` writes that copy). The split by name keeps a name's
variants in one part, so its validation names are the plain run's. Since folding now puts names in
canonical case, the variants would collapse into one name: that arm was trained with the release
before (commit 12aa198), `namelstm train --data /tmp/names3 --out /tmp/lstm3`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from namelstm.data.names import load_names, split_by_name
from namelstm.inference.predict import Predictor
from namelstm.metrics import accuracies


def single_case_title(s: str) -> str:
    return s.title() if s.isupper() or s.islower() else s


def single_case_capitalised(s: str) -> str:
    return s.capitalize() if s.isupper() or s.islower() else s


RULES: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    "single-case names in title case": single_case_title,
    "single-case names capitalised": single_case_capitalised,
    "always capitalised": str.capitalize,
}
VIEWS: dict[str, Callable[[str], str]] = {"as written": lambda s: s, "UPPER": str.upper, "lower": str.lower}


def write_variants(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.txt")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [form for line in lines for form in (line, line.upper(), line.lower())]
        (target / path.name).write_text("\n".join(rows) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", help="'pretrained', run directories or checkpoint files")
    parser.add_argument("--data-dir", type=Path, required=True, help="the 18 name files")
    parser.add_argument("--variants", type=Path, help="write the case-variant copy of the data here and stop")
    args = parser.parse_args()
    if args.variants:
        write_variants(args.data_dir, args.variants)
        return
    val = split_by_name(load_names(args.data_dir), seed=0).val
    names = [name for name, _ in val]
    for source in args.checkpoints:
        predictor = Predictor.load(source)
        targets = torch.tensor([predictor.languages.index(language) for _, language in val])
        for rule_name, rule in RULES.items():
            cells = []
            for view in VIEWS.values():
                # `rank` takes the forms as given: the rule, not today's folding, decides what is read.
                ranking = predictor.rank(names, [rule(view(n)) for n in names], top_k=1)
                a = accuracies(torch.from_numpy(ranking.index[:, 0]), targets, len(predictor.languages))
                cells.append(f"{a['accuracy']:.1%} / {a['balanced_accuracy']:.1%}")
            print(f"| {source} | {rule_name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
