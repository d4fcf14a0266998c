"""The names dataset: loading, download, a leak-free split, tensors and batches.

Reading order: `load_names` (a directory or CSV/TSV, see sources.py -> distinct (name, language)
pairs, folded as alphabet.py says); `resolve_data_dir` / `download_names` (where the files come
from); `split_by_name`; encoding and `Batches`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from namelstm.config import TrainConfig, split_label
from namelstm.data.alphabet import REPORT, Alphabet, alphabet_of, folding, pick_alphabet
from namelstm.data.buckets import length_groups
from namelstm.data.sources import Columns, open_source
from namelstm.errors import NamelstmError

ALPHABET = REPORT.letters
N_LETTERS = len(ALPHABET)  # 57, the width of the report's one-hot letter vectors

DATA_URL = "https://download.pytorch.org/tutorial/data.zip"
DATA_ENV = "NAMELSTM_DATA"
DEFAULT_DATA_DIR = Path("data/names")

# SHA-256 of each file of names/ in the official archive; a download is used only if all match.
NAMES_SHA256: Mapping[str, str] = {
    "Arabic.txt": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese.txt": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech.txt": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch.txt": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English.txt": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French.txt": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German.txt": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek.txt": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish.txt": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian.txt": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese.txt": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean.txt": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish.txt": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese.txt": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian.txt": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish.txt": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish.txt": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese.txt": "4761c0de374ebdfd7dea7faa6fbac707d96cad9a6fc91d3626c462cbd08b6c76",
}

Pair = tuple[str, str]  # (folded name, language)
MAX_REPORTED = 20  # bad rows kept with their line numbers; the rest are counted


# ---------------------------------------------------------------------------- loading


class BadRow(NamedTuple):
    """A line of the data that gave no (name, label) pair, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.reason}"


@dataclass(frozen=True)
class NamesDataset:
    """Distinct (name, language) pairs read from a directory of `<Language>.txt` files or a CSV/TSV.

    `lines` counts every non-blank row read; `duplicates` the rows whose pair was already seen;
    `n_skipped` the rows that gave no pair, the first MAX_REPORTED of them in `skipped`.
    `official` is True only for the tutorial's own files (checked by SHA-256); all else is custom data.
    """

    languages: tuple[str, ...]
    pairs: tuple[Pair, ...]
    lines: int
    duplicates: int
    skipped: tuple[BadRow, ...]
    n_skipped: int = 0
    alphabet: Alphabet = REPORT
    source: str = ""
    official: bool = False

    @property
    def data_label(self) -> str:
        """How a run names its data: the official tutorial files, or custom data and its path."""
        return "the official tutorial names" if self.official else f"custom data ({self.source})"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the labels and (name, label) pairs as read: the same for the same data wherever
        it lies, different for any other (`compare` reuses a run only when this matches)."""
        digest = hashlib.sha256("\t".join(self.languages).encode())
        for name, label in self.pairs:
            digest.update(f"\n{name}\t{label}".encode())
        return digest.hexdigest()

    def describe(self) -> str:
        bad = f"{self.n_skipped:,} bad rows skipped" + (
            f" ({'; '.join(map(str, self.skipped[:3]))}{'; ...' if self.n_skipped > 3 else ''})"
            if self.n_skipped
            else ""
        )
        return (
            f"{self.data_label}: {self.lines:,} rows, {len(self.pairs):,} distinct (name, language) pairs in "
            f"{len(self.languages)} languages, {len(self.alphabet)} letters; "
            f"{self.duplicates:,} repeats dropped, {bad}"
        )


def load_names(
    directory: Path,
    transliterate: bool = False,
    alphabet: Alphabet | None = REPORT,
    columns: Columns | None = None,
    progress: bool = False,
) -> NamesDataset:
    """Read a directory of `<Language>.txt` files (one name per line) or a CSV/TSV file with a
    header (see `sources`), folded to `alphabet`; `None` builds the alphabet from the data's letters
    (`--alphabet auto`). Bad rows are counted and the first ones kept with their line numbers."""
    source = open_source(Path(directory), columns or Columns())
    fold = folding(alphabet, transliterate)
    seen: set[Pair] = set()
    per_label: dict[str, int] = defaultdict(int)
    lines = duplicates = n_skipped = 0
    skipped: list[BadRow] = []
    first_bad_of: dict[str, BadRow] = {}  # a label's first bad row, to name a label that has only bad ones
    for where, line_no, raw, label, problem in source.rows(progress):
        lines += 1
        name = "" if problem else fold(raw)
        if not name:
            n_skipped += 1
            if label:
                first_bad_of.setdefault(
                    label, BadRow(where, line_no, problem or f"{raw.strip()[:40]!r} has no letters")
                )
            if len(skipped) < MAX_REPORTED:
                skipped.append(BadRow(where, line_no, problem or f"{raw.strip()[:40]!r} has no letters"))
        elif (name, label) in seen:
            duplicates += 1
        else:
            seen.add((name, label))
            per_label[label] += 1
    declared = source.declared_labels()
    for label in declared or ():
        if not per_label[label]:
            raise NamelstmError(f"{source.path / (label + '.txt')} holds no usable names")
    for label, bad in first_bad_of.items():
        if not per_label[label]:  # in a table, such a label would vanish without a word
            raise NamelstmError(f"{source.path}: every row of {label!r} is bad (first: {bad})")
    languages = declared or tuple(sorted(per_label))
    if len(languages) < 2:
        found = f"only {languages[0]!r}" if languages else "none"
        raise NamelstmError(
            f"{source.path} needs names of at least 2 labels; it has {found} ({n_skipped:,} bad rows)"
        )
    pairs = tuple(sorted(seen, key=lambda p: (p[1], p[0])))
    return NamesDataset(
        languages=languages,
        pairs=pairs,
        lines=lines,
        duplicates=duplicates,
        skipped=tuple(skipped),
        n_skipped=n_skipped,
        alphabet=alphabet if alphabet is not None else alphabet_of(name for name, _ in pairs),
        source=str(source.path),
        official=source.kind == "directory" and is_official(source.path),
    )


# ---------------------------------------------------------------------------- where the files come from


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_official(directory: Path) -> bool:
    """True only if `directory` holds exactly the tutorial's files, each with its SHA-256."""
    names = {p.name for p in Path(directory).glob("*.txt")}
    if names != set(NAMES_SHA256):
        return False
    try:
        verify_names(directory)
    except NamelstmError:
        return False
    return True


def verify_names(directory: Path, sums: Mapping[str, str] | None = None, where: str | None = None) -> None:
    """Raise, naming the file, unless every file of `sums` (default: the official ones) is in
    `directory` with that SHA-256. `where` names the directory in messages."""
    for filename, expected in (NAMES_SHA256 if sums is None else sums).items():
        path = Path(directory) / filename
        if not path.is_file():
            raise NamelstmError(f"{filename} is missing from {where or directory}")
        if sha256_of(path) != expected:
            raise NamelstmError(
                f"{filename} fails its SHA-256 check; the file is corrupt or not the official one"
            )


@dataclass(frozen=True)
class DataSummary:
    """What `namelstm data` reports about a dataset: per-label counts, whether the files are the
    official ones, and its bad rows with their line numbers."""

    path: Path
    dataset: NamesDataset

    def lines(self) -> list[str]:
        d = self.dataset
        official = (
            "the official files (SHA-256 checked)" if d.official else "custom data (not the official files)"
        )
        per_language = Counter(language for _, language in d.pairs)
        lines = [
            f"{self.path}: {len(d.languages)} labels; {official}",
            *(f"  {language:<12} {per_language[language]:9,d} distinct names" for language in d.languages),
            f"  {'total':<12} {len(d.pairs):9,d} distinct (name, label) pairs from {d.lines:,} rows; "
            f"{d.duplicates:,} repeats, {d.n_skipped:,} bad rows; {len(d.alphabet)} letters",
            *(f"  bad row: {bad}" for bad in d.skipped),
        ]
        if d.n_skipped > len(d.skipped):
            lines.append(f"  ... and {d.n_skipped - len(d.skipped):,} more bad rows")
        return lines


def summarize_data(
    data_dir: Path | None = None, columns: Columns | None = None, alphabet: Alphabet | None = REPORT
) -> DataSummary:
    """Find (or download) the data as training would and read it, with a progress bar."""
    path = resolve_data_dir(data_dir)
    return DataSummary(path, load_names(path, alphabet=alphabet, columns=columns, progress=True))


def download_names(
    dest: Path,
    url: str | None = None,
    sums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download the tutorial archive, extract only `names/*.txt`, check each file, then move the
    checked directory to `dest` in one rename. A failed or corrupt download leaves `dest` untouched."""
    # torch.hub's downloader writes to a temporary name and renames when complete, shows a tqdm
    # bar, and ships with torch, so we need neither a new HTTP dependency nor our own loop.
    from torch.hub import download_url_to_file

    dest, url, sums = Path(dest), url or DATA_URL, NAMES_SHA256 if sums is None else sums
    if dest.exists():
        raise NamelstmError(f"{dest} already exists; remove it or point --data at it")
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".names-download-") as tmp:
            archive = Path(tmp) / "data.zip"
            try:
                download_url_to_file(url, str(archive), progress=progress)
            except OSError as err:  # URLError is an OSError
                raise NamelstmError(
                    f"could not download {url} ({getattr(err, 'reason', err)}); "
                    "without internet access, put the 18 "
                    f"<Language>.txt files in {dest} or pass --data DIR (or set {DATA_ENV})"
                ) from None
            extracted = Path(tmp) / "names"
            extracted.mkdir()
            try:
                with zipfile.ZipFile(archive) as zf:
                    for member in zf.namelist():
                        parent, _, filename = member.rpartition("/")
                        if parent.endswith("names") and filename in sums:
                            (extracted / filename).write_bytes(zf.read(member))
            except zipfile.BadZipFile:
                raise NamelstmError(
                    f"the archive downloaded from {url} is incomplete or not a zip file"
                ) from None
            verify_names(extracted, sums, where=f"the archive downloaded from {url}")
            extracted.rename(dest)
    except BaseException:
        for directory in created:  # leave no empty data/ behind a failed download
            if directory.exists() and not any(directory.iterdir()):
                directory.rmdir()
        raise
    return dest


def resolve_data_dir(data_dir: Path | None = None, download: bool = True, progress: bool = True) -> Path:
    """Where the names are: `data_dir` (a directory or a .csv/.tsv file), else $NAMELSTM_DATA, else
    ./data/names, downloaded there (and checked) if it is missing. A path the user names is used as it
    is, never downloaded into."""
    named = data_dir if data_dir is not None else os.environ.get(DATA_ENV) or None
    if named is not None:
        path = Path(named)
        if not path.is_dir() and not (path.is_file() and path.suffix.lower() in (".csv", ".tsv")):
            source = "--data" if data_dir is not None else DATA_ENV
            raise NamelstmError(f"{source} {path} is not a directory (nor a .csv/.tsv file)")
        return path
    if DEFAULT_DATA_DIR.is_dir():
        return DEFAULT_DATA_DIR
    if not download:
        raise NamelstmError(f"no data in {DEFAULT_DATA_DIR}; pass --data DIR or set {DATA_ENV}")
    return download_names(DEFAULT_DATA_DIR, progress=progress)


# ---------------------------------------------------------------------------- leak-free split


@dataclass(frozen=True)
class Split:
    """Train / validation / test pairs; a name (case-insensitive) never appears in two parts."""

    train: tuple[Pair, ...]
    val: tuple[Pair, ...]
    test: tuple[Pair, ...]
    languages: tuple[str, ...]
    seed: int
    fractions: tuple[float, float, float]
    alphabet: Alphabet = REPORT
    data: dict[str, Any] = field(default_factory=dict, compare=False)  # where the names came from

    def describe(self) -> str:
        return (
            f"{split_label(self.fractions, self.seed)}: "
            f"{len(self.train)} train, {len(self.val)} val, {len(self.test)} test pairs"
        )

    def detail(self) -> dict[str, Any]:
        """`describe` as fields: seed, fractions and the number of pairs in each part."""
        return {
            "by": "name",
            "seed": self.seed,
            "fractions": list(self.fractions),
            "counts": {part: len(getattr(self, part)) for part in ("train", "val", "test")},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "fractions": list(self.fractions),
            "languages": list(self.languages),
            "alphabet": self.alphabet.letters,
            "data": self.data,
            **{part: [list(p) for p in getattr(self, part)] for part in ("train", "val", "test")},
        }

    def write(self, path: Path) -> None:
        """split.json, atomically; compact (no indent), since a large dataset makes it millions of names."""
        from namelstm.runs import atomic_write_bytes

        atomic_write_bytes(
            path, json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
        )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Split:
        return cls(
            **{
                part: tuple((str(n), str(lang)) for n, lang in raw[part]) for part in ("train", "val", "test")
            },
            languages=tuple(raw["languages"]),
            seed=int(raw["seed"]),
            fractions=tuple(float(f) for f in raw["fractions"]),  # type: ignore[arg-type]
            alphabet=Alphabet(
                raw.get("alphabet", REPORT.letters)
            ),  # runs older than --alphabet used the report's
            data=dict(raw.get("data") or {}),
        )


def _part_sizes(n: int, fractions: Sequence[float]) -> tuple[int, int]:
    """Validation and test sizes for a language of n names; each gets at least one name when n >= 3."""
    val, test = (round(n * f) for f in fractions[1:])
    if n >= 3:
        val, test = max(val, 1), max(test, 1)
    return val, test


def split_by_name(
    dataset: NamesDataset, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> Split:
    """Split the distinct pairs so that all pairs of a name land in one part, each language
    divided in `fractions` (languages are filled rarest first, so shared names bend the big ones)."""
    if abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise NamelstmError(f"split fractions {fractions} must be non-negative and sum to 1")
    rng = random.Random(seed)
    names_of: dict[str, set[str]] = defaultdict(set)
    for name, language in dataset.pairs:
        names_of[language].add(name.lower())
    part_of: dict[str, int] = {}
    for language in sorted(names_of, key=lambda lang: (len(names_of[lang]), lang)):
        keys = sorted(names_of[language])
        free = [k for k in keys if k not in part_of]
        rng.shuffle(free)
        have = [sum(part_of.get(k) == part for k in keys) for part in (0, 1, 2)]
        want_val, want_test = _part_sizes(len(keys), fractions)
        n_test = max(0, min(len(free), want_test - have[2]))
        n_val = max(0, min(len(free) - n_test, want_val - have[1]))
        for i, key in enumerate(free):
            part_of[key] = 2 if i < n_test else 1 if i < n_test + n_val else 0
    parts: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for pair in dataset.pairs:
        parts[part_of[pair[0].lower()]].append(pair)
    return Split(
        train=tuple(parts[0]),
        val=tuple(parts[1]),
        test=tuple(parts[2]),
        languages=dataset.languages,
        seed=seed,
        fractions=fractions,
        alphabet=dataset.alphabet,
        data={
            "source": dataset.source,
            "official": dataset.official,
            "label": dataset.data_label,
            "fingerprint": dataset.fingerprint,
            "rows": dataset.lines,
            "repeats": dataset.duplicates,
            "bad_rows": dataset.n_skipped,
            "first_bad_rows": [str(b) for b in dataset.skipped],
        },
    )


def load_dataset(
    data_dir: Path | None, config: TrainConfig, columns: Columns | None = None, progress: bool = False
) -> NamesDataset:
    """The names a run of `config` reads: found (or downloaded) as `resolve_data_dir` says, folded with
    the run's transliteration and alphabet."""
    return load_names(
        resolve_data_dir(data_dir, progress=progress),
        config.transliterate,
        pick_alphabet(config.alphabet),
        columns,
        progress=progress,
    )


def load_split(
    data_dir: Path | None, config: TrainConfig, columns: Columns | None = None, progress: bool = False
) -> Split:
    """`load_dataset`, split by name with the run's fractions and seed."""
    return split_by_name(load_dataset(data_dir, config, columns, progress), config.fractions, config.seed)


# ---------------------------------------------------------------------------- tensors and batches


def letter_indices(name: str, alphabet: Alphabet = REPORT) -> list[int]:
    """Positions in the alphabet of an already-folded name's letters."""
    return [alphabet.index[c] for c in name]


def line_to_tensor(name: str, alphabet: Alphabet = REPORT) -> torch.Tensor:
    """The report's encoding: a `<len x 1 x 57>` one-hot tensor, one row per letter."""
    tensor = torch.zeros(len(name), 1, len(alphabet))
    tensor[torch.arange(len(name)), 0, torch.tensor(letter_indices(name, alphabet), dtype=torch.long)] = 1
    return tensor


class Encoded:
    """Folded names stored end to end as small integers, with offsets: millions of names take a few
    bytes each, and any set of rows comes out as a padded `[B, T]` long tensor."""

    def __init__(self, names: Sequence[str], alphabet: Alphabet = REPORT) -> None:
        flat, lengths = alphabet.encode_flat(names)
        if len(lengths) and lengths.min() == 0:
            raise NamelstmError("cannot encode an empty name")
        self.flat = torch.from_numpy(flat)
        self.lengths = torch.from_numpy(lengths)
        self.starts = torch.from_numpy(np.cumsum(lengths) - lengths)

    def padded(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Letter indices of `rows` padded with 0 to their longest name (`[B, T]`), and their lengths."""
        lengths = self.lengths[rows]
        width = int(lengths.max()) if len(rows) else 0
        return pad_letters(self.flat, self.starts[rows], lengths, width), lengths


def pad_letters(flat: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """`[B, T=width]` long letter indices of the names that start at `starts` in `flat` (names end to
    end, as `Encoded` keeps them), padded with 0. Runs where the tensors are, host or GPU; `width`
    is the caller's (the longest of `lengths`), so a GPU caller can take it from host memory and wait
    for nothing."""
    offsets = torch.arange(width, device=flat.device)
    inside = offsets < lengths[:, None]
    positions = torch.where(inside, starts[:, None] + offsets, 0)
    return flat[positions].long().masked_fill_(~inside, 0)


def encode(names: Sequence[str], alphabet: Alphabet = REPORT) -> tuple[torch.Tensor, torch.Tensor]:
    """The batched encoding: letter indices padded to the longest name (`[B, T]`) and lengths (`[B]`).

    The padding value is irrelevant: models read each name's output at position `length - 1`.
    """
    return Encoded(names, alphabet).padded(torch.arange(len(names)))


@dataclass(frozen=True)
class Batch:
    letters: torch.Tensor  # [B, T] letter indices
    lengths: torch.Tensor  # [B]
    targets: torch.Tensor  # [B] language indices
    rows: torch.Tensor  # [B] positions of these names in the split they came from

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.letters.to(device), self.lengths.to(device), self.targets.to(device), self.rows)


class Batches:
    """One split encoded to tensors once, served as mini-batches of names of similar length.

    Names are ordered by length (ties broken at random each epoch), cut into batches, and the
    batches shuffled, so a batch carries almost no padding while its contents still change.
    """

    def __init__(
        self, pairs: Sequence[Pair], languages: Sequence[str], batch_size: int, alphabet: Alphabet = REPORT
    ) -> None:
        language_index = {lang: i for i, lang in enumerate(languages)}
        self.encoded = Encoded([name for name, _ in pairs], alphabet)
        self.lengths = self.encoded.lengths
        self.targets = torch.from_numpy(
            np.fromiter((language_index[lang] for _, lang in pairs), dtype=np.int64, count=len(pairs))
        )
        self.batch_size = batch_size

    def __len__(self) -> int:
        return (len(self.targets) + self.batch_size - 1) // self.batch_size

    def _batch(self, rows: torch.Tensor) -> Batch:
        letters, lengths = self.encoded.padded(rows)
        return Batch(letters, lengths, self.targets[rows], rows)

    def chunks(self, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The rows of each batch, each in length order; batches shuffled when a generator is given,
        in a fixed order otherwise. The same generator state gives the same batches in every process.
        The fixed order (scoring: evaluate, cv, compare, validation) gives exact-length batches, so
        nothing is padded and `bilstm` packs nothing."""
        if generator is None:
            return [torch.from_numpy(rows) for rows in length_groups(self.lengths.numpy(), self.batch_size)]
        shuffled = torch.randperm(len(self.lengths), generator=generator)
        order = shuffled[torch.argsort(self.lengths[shuffled], stable=True)]
        chunks = list(order.split(self.batch_size))
        return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]

    def iterate(self, generator: torch.Generator | None = None) -> Iterator[Batch]:
        """Length-bucketed batches (see `chunks`)."""
        for rows in self.chunks(generator):
            yield self._batch(rows)
