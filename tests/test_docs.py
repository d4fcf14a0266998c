"""The documentation's links: every relative link and image in the README and docs/*.md points at
a file that exists and, for `#anchor` links into markdown, at a heading that exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200  # the README is a front door; the rest lives in docs/

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
# [text](target) and ![alt](target), the text possibly wrapped over lines; an optional "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def without_code(text: str) -> str:
    """Fenced blocks and code spans removed: a `[x](y)` inside them is an example, not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lower case, punctuation dropped
    (letters of any script, digits, `-` and `_` kept), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text, not its target
    text = re.sub(r"[`*]|<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeated headings
    return found


def links(text: str) -> list[str]:
    code_free = without_code(text)
    return INLINE_LINK.findall(code_free) + REFERENCE.findall(code_free)


def broken_links(path: Path) -> list[str]:
    """Each relative link or image of one markdown file that leads nowhere, with the reason."""
    broken = []
    for target in links(path.read_text(encoding="utf-8")):
        if not target or target.lower().startswith(EXTERNAL):
            continue
        file_part, _, anchor = unquote(target).partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{path.name}: {target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{path.name}: {target} (no heading '{anchor}' in {destination.name})")
    return broken


def test_every_relative_link_and_image_in_the_docs_resolves() -> None:
    files = doc_files()
    assert len(files) > 5  # the README and the pages under docs/
    assert sum(len(links(path.read_text(encoding="utf-8"))) for path in files) > 50
    assert [problem for path in files for problem in broken_links(path)] == []


def test_the_readme_stays_a_front_door() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= README_MAX_LINES


def test_a_broken_link_an_unknown_heading_and_a_missing_image_are_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## What happens when…\n\n## Notes\n\n## Notes\n")
    (tmp_path / "figure.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[fine](other.md) [fine too](other.md#what-happens-when) [the second notes](other.md#notes-1)\n"
        "[here](#page) ![figure](figure.png) [web](https://example.org/nowhere.md) [mail](mailto:a@b.c)\n"
        "`[an example](not-a-link.md)`\n\n"
        "```markdown\n[also an example](nowhere.md)\n```\n\n"
        "[gone](missing.md) [a wrapped\nlink](other.md#no-such-heading) ![lost](lost.png)\n"
        "[here, wrong](#nothing)\n\n"
        "[ref]: elsewhere/gone.md\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md (no such file)",
        "page.md: other.md#no-such-heading (no heading 'no-such-heading' in other.md)",
        "page.md: lost.png (no such file)",
        "page.md: #nothing (no heading 'nothing' in page.md)",
        "page.md: elsewhere/gone.md (no such file)",
    ]


def test_anchors_are_github_slugs() -> None:
    assert slug("What happens when…") == "what-happens-when"
    assert slug("The report's section 3, measured") == "the-reports-section-3-measured"
    assert slug("Over HTTP: `namelstm serve`") == "over-http-namelstm-serve"
    assert slug("When it doesn't know: `--min-confidence`") == "when-it-doesnt-know---min-confidence"
    assert slug("The trade-off of τ") == "the-trade-off-of-τ"


# ---------------------------------------------------------------------------- figures from files

CARD_JSON = ROOT / "namelstm" / "pretrained" / "card.json"
# A decimal number or a percentage as the docs write them: 79.2%, 0.022, 1.305, 92%.
FIGURE = re.compile(r"(?<![\w.])\d[\d,]*\.\d+%?|(?<![\w.])\d+%")
NOT_FIGURES = {"95%"}  # the bootstrap intervals' level: a choice the card names, not a measurement


def _numbers(tree: object) -> list[float]:
    if isinstance(tree, dict):
        return [n for v in tree.values() for n in _numbers(v)]
    if isinstance(tree, list):
        return [n for v in tree for n in _numbers(v)]
    return [tree] if isinstance(tree, int | float) and not isinstance(tree, bool) else []


def _written(value: float) -> set[str]:
    """Every way the docs write one number of card.json: 0.7915 is 79.2%, 79.2 (in an interval), 0.792."""
    forms = {f"{value:g}", f"{value:,}"}
    if isinstance(value, float):
        forms |= {f"{value:.2f}", f"{value:.3f}", f"{value:.4f}"}
        if 0 <= value <= 1:
            forms |= {f"{value:.1%}", f"{value:.0%}", f"{value * 100:.1f}"}
    else:
        forms |= {f"{value // 1024:,} KB", f"{round(value / 1024):,} KB"}
    return forms


def card_figures(card: dict) -> set[str]:
    return set().union(*(_written(v) for v in _numbers(card)))


def unsourced(text: str, figures: set[str]) -> list[str]:
    """The decimals and percentages in `text` that no number of the card gives."""
    return [f for f in FIGURE.findall(text) if f not in figures and f not in NOT_FIGURES]


def readme_headline() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## The pretrained model")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_card_and_the_readme_quote_only_numbers_card_json_holds() -> None:
    card = json.loads(CARD_JSON.read_text(encoding="utf-8"))
    figures = card_figures(card)
    model_card = (CARD_JSON.parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    headline = readme_headline().split("From Python")[0]  # the example's outputs below are a run's
    assert unsourced(model_card, figures) == [] and unsourced(headline, figures) == []
    # ...and the headline quotes the card's main figures, so a rebuilt card holds the README to it.
    test, pooled = card["test_metrics"], card["cross_validation"]["pooled"]
    low, high = pooled["intervals"]["accuracy"]
    for figure in (
        f"{pooled['accuracy']:.1%} accuracy [{low * 100:.1f}, {high * 100:.1f}]",
        f"{pooled['balanced_accuracy']:.1%} balanced accuracy",
        f"{test['n']:,} test names",
        f"{test['accuracy']:.1%} and {test['balanced_accuracy']:.1%}",
        f"top-3 {test['top3_accuracy']:.1%}",
        f"{test['ece']:.3f}",
        f"hidden {card['settings']['hidden_size']}, {round(card['bytes'] / 1024)} KB",
    ):
        assert figure in headline, figure
    assert f"{test['accuracy']:.1%}" in model_card and f"{card['parameters']:,} parameters" in model_card


def test_a_number_typed_by_hand_is_caught() -> None:
    card = {"test_metrics": {"accuracy": 0.79155, "ece": 0.0219}, "bytes": 260162}
    figures = card_figures(card)
    assert unsourced("accuracy 79.2%, ECE 0.022, 254 KB, 95% intervals", figures) == []
    assert unsourced("accuracy 79.3% (was 71.6%), ECE 0.023", figures) == ["79.3%", "71.6%", "0.023"]


def test_every_figure_a_run_gets_is_named_wherever_the_figures_are_listed() -> None:
    from click.testing import CliRunner

    from namelstm import runs
    from namelstm.cli import cli

    figures = [getattr(runs, name) for name in dir(runs) if name.endswith("_FIGURE")]
    assert len(figures) == 5
    plot_help = CliRunner().invoke(cli, ["plot", "--help"]).output
    train_help = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    page = (ROOT / "docs" / "what-happens-when.md").read_text(encoding="utf-8")
    for where, text in (
        ("plot --help", plot_help),
        ("train --plots", train_help),
        ("what-happens-when", page),
    ):
        assert [f for f in figures if f not in text] == [], where


def _verdict(text: str) -> str:
    return text.split("**The verdict on the fourth claim, as measured:**", 1)[1].split("\n## ", 1)[0]


def test_the_thesis_table_is_the_one_its_command_wrote_and_the_verdict_quotes_it() -> None:
    from namelstm.experiments.docblocks import read_block
    from namelstm.experiments.families import families_markdown

    result = json.loads((ROOT / "docs" / "families.json").read_text(encoding="utf-8"))
    page = ROOT / "docs" / "thesis.md"
    assert read_block(page, "families") == families_markdown(result).rstrip("\n")
    assert set(result["families"]) == {"rnn", "tanhrnn", "lstm", "mylstm", "bilstm", "ngram", "cnn"}
    # Every difference the verdict quotes, in points, is one the file holds (rounded as the table is).
    held = {
        f"{abs(metric['difference']) * 100:.1f}"
        for pair in result["differences"].values()
        for metric in pair.values()
    } | {
        f"{abs(g['difference']) * 100:.1f}"
        for groups in result["by_group"].values()
        for g in groups.values()
        if g["difference"] == g["difference"]
    }
    quoted = re.findall(r"(?<![\d.])(\d+\.\d)(?! ?%)(?![\d])", _verdict(page.read_text(encoding="utf-8")))
    assert quoted and all(q in held for q in quoted), [q for q in quoted if q not in held]


def test_a_thesis_figure_typed_by_hand_is_caught(tmp_path: Path) -> None:
    from namelstm.experiments.docblocks import read_block, write_block
    from namelstm.experiments.families import families_markdown

    page = tmp_path / "thesis.md"
    page.write_text((ROOT / "docs" / "thesis.md").read_text(encoding="utf-8"), encoding="utf-8")
    block = read_block(page, "families")
    write_block(page, "families", block.replace("83.3%", "85.3%", 1))
    result = json.loads((ROOT / "docs" / "families.json").read_text(encoding="utf-8"))
    assert read_block(page, "families") != families_markdown(result).rstrip("\n")


def test_the_trust_pages_shipped_model_section_quotes_only_the_card() -> None:
    card = json.loads(CARD_JSON.read_text(encoding="utf-8"))
    trust = (ROOT / "docs" / "trust.md").read_text(encoding="utf-8")
    start = trust.index("## The shipped model")
    section = trust[start : trust.index("\n## ", start + 1)]
    assert unsourced(section, card_figures(card)) == []
    assert card["cross_validation"]["recipe"] == card["recipe"]
