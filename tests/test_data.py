from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import torch

from namelstm.data.alphabet import REPORT
from namelstm.data.names import (
    ALPHABET,
    N_LETTERS,
    NAMES_SHA256,
    Batches,
    Split,
    download_names,
    encode,
    letter_indices,
    line_to_tensor,
    load_names,
    resolve_data_dir,
    split_by_name,
    verify_names,
)
from namelstm.errors import NamelstmError


def test_alphabet_is_the_tutorials_57_letters() -> None:
    assert N_LETTERS == 57
    assert ALPHABET.endswith(" .,;'") and ALPHABET.startswith("abc")


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Ślusàrski", "Slusarski"),
        ("Müller", "Muller"),
        ("O'Neill", "O'Neill"),
        ("Strauß", "Strauss"),  # what NFD cannot reduce is transliterated, as predict reads it
        ("  Nguyen \n", "Nguyen"),
        ("Rafaj1", "Rafaj"),
        ("12345", ""),
        ("Достоевский", "Dostoevskiy"),
        ("Rossi😀", "Rossi"),
        ("😀😀", ""),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert REPORT.fold(raw) == folded


def test_load_counts_repeats_and_skips(tiny_data: Path) -> None:
    dataset = load_names(tiny_data)
    assert dataset.languages == ("Alphan", "Betan", "Gamman")
    assert [(b.file, b.line) for b in dataset.skipped] == [("Alphan.txt", 82)]
    assert "has no letters" in dataset.skipped[0].reason and dataset.n_skipped == 1
    assert dataset.lines == 3 * 80 + 3
    assert len(dataset.pairs) + dataset.duplicates + dataset.n_skipped == dataset.lines
    assert not dataset.official and dataset.data_label.startswith("custom data")
    assert ("Slusarskiov", "Alphan") in dataset.pairs
    assert len(set(dataset.pairs)) == len(dataset.pairs)


def test_load_names_the_file_and_line_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "A.txt").write_text("Anna\n", encoding="utf-8")
    (tmp_path / "B.txt").write_bytes(b"Bob\nCarl\nJos\xe9\n")
    with pytest.raises(NamelstmError, match=r"B\.txt line 3 is not UTF-8 \(byte 0xe9\); convert it first"):
        load_names(tmp_path)


def test_load_rejects_missing_empty_and_unusable_directories(tmp_path: Path) -> None:
    with pytest.raises(NamelstmError, match="does not exist"):
        load_names(tmp_path / "nope")
    with pytest.raises(NamelstmError, match="holds 0 .txt"):
        load_names(tmp_path)
    (tmp_path / "A.txt").write_text("Anna\n", encoding="utf-8")
    (tmp_path / "B.txt").write_text("123\n!!!\n", encoding="utf-8")
    with pytest.raises(NamelstmError, match="B.txt holds no usable names"):
        load_names(tmp_path)


def _parts_of(split: Split) -> dict[str, set[str]]:
    return {part: {n.lower() for n, _ in getattr(split, part)} for part in ("train", "val", "test")}


def test_split_keeps_every_name_in_one_part_and_is_fixed_by_seed(tiny_data: Path) -> None:
    dataset = load_names(tiny_data)
    split = split_by_name(dataset, seed=3)
    parts = _parts_of(split)
    assert (
        not parts["train"] & parts["val"]
        and not parts["train"] & parts["test"]
        and not parts["val"] & parts["test"]
    )
    assert sorted(split.train + split.val + split.test) == sorted(dataset.pairs)
    assert split == split_by_name(dataset, seed=3)
    assert split.test != split_by_name(dataset, seed=4).test
    assert Split.from_dict(split.to_dict()) == split


@pytest.mark.realdata
def test_real_data_facts_and_checksums(real_data: Path) -> None:
    verify_names(real_data)
    dataset = load_names(real_data)
    assert dataset.official and dataset.data_label == "the official tutorial names"
    assert len(dataset.languages) == 18
    assert dataset.lines == 20074
    # 17,994 distinct lines, but Vietnamese.txt lists 'An' and 'an': written in canonical case, one pair;
    # and ß read as ss makes 6 German names repeats of ones the file also holds ('Groß' and 'Gross').
    assert len(dataset.pairs) == 17987
    assert ("Marszalek", "Polish") in dataset.pairs and ("Gross", "German") in dataset.pairs
    assert ("an", "Vietnamese") not in dataset.pairs and ("An", "Vietnamese") in dataset.pairs
    assert Counter(lang for _, lang in dataset.pairs)["Arabic"] == 108


@pytest.mark.realdata
def test_real_split_is_grouped_and_stratified(real_data: Path) -> None:
    dataset = load_names(real_data)
    split = split_by_name(dataset, seed=0)
    parts = _parts_of(split)
    assert (
        not parts["train"] & parts["test"]
        and not parts["train"] & parts["val"]
        and not parts["val"] & parts["test"]
    )
    # 464 names are listed under several languages: all their pairs still share one part
    multi = Counter(n.lower() for n, _ in dataset.pairs)
    assert sum(1 for c in multi.values() if c > 1) >= 400
    totals = Counter(lang for _, lang in dataset.pairs)
    tests = Counter(lang for _, lang in split.test)
    for language, total in totals.items():
        assert tests[language] >= 1
        assert abs(tests[language] / total - 0.1) < 0.05, language


def test_one_hot_and_index_encodings_agree() -> None:
    tensor = line_to_tensor("Kim'")
    assert tensor.shape == (4, 1, 57)
    assert tensor.sum().item() == 4
    assert tensor.argmax(-1).flatten().tolist() == letter_indices("Kim'")
    letters, lengths = encode(["Kim'", "Li"])
    assert letters.shape == (2, 4) and lengths.tolist() == [4, 2]
    assert letters[0].tolist() == letter_indices("Kim'") and letters[1, :2].tolist() == letter_indices("Li")


def test_batches_serve_every_row_once_with_little_padding(tiny_data: Path) -> None:
    dataset = load_names(tiny_data)
    batches = Batches(dataset.pairs, dataset.languages, batch_size=16)
    generator = torch.Generator().manual_seed(0)
    served = list(batches.iterate(generator))
    rows = torch.cat([b.rows for b in served])
    assert sorted(rows.tolist()) == list(range(len(dataset.pairs)))
    assert len(served) == len(batches)
    padding = sum(b.letters.numel() - b.lengths.sum().item() for b in served)
    assert padding < 0.1 * batches.lengths.sum().item()
    again = [b.rows.tolist() for b in batches.iterate(torch.Generator().manual_seed(1))]
    assert again != [b.rows.tolist() for b in served]  # the order changes from epoch to epoch


def _zip_of(directory: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/eng-fra.txt", "not a names file\n")
        for path in sorted(directory.glob("*.txt")):
            zf.write(path, f"data/names/{path.name}")
    return archive


def _sums(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.glob("*.txt")}


def test_download_extracts_only_names_and_checks_them(tiny_data: Path, tmp_path: Path) -> None:
    archive = _zip_of(tiny_data, tmp_path / "data.zip")
    dest = download_names(tmp_path / "data" / "names", archive.as_uri(), _sums(tiny_data), progress=False)
    assert sorted(p.name for p in dest.iterdir()) == ["Alphan.txt", "Betan.txt", "Gamman.txt"]
    assert load_names(dest).pairs == load_names(tiny_data).pairs


def test_download_that_fails_its_checksum_is_never_used(tiny_data: Path, tmp_path: Path) -> None:
    archive = _zip_of(tiny_data, tmp_path / "data.zip")
    sums = {**_sums(tiny_data), "Betan.txt": "0" * 64}
    dest = tmp_path / "data" / "names"
    with pytest.raises(NamelstmError, match="Betan.txt fails its SHA-256 check"):
        download_names(dest, archive.as_uri(), sums, progress=False)
    assert not (tmp_path / "data").exists()  # no temporary, no empty directory left behind


def test_partial_download_and_no_network_give_clear_errors(tiny_data: Path, tmp_path: Path) -> None:
    archive = _zip_of(tiny_data, tmp_path / "data.zip")
    truncated = tmp_path / "partial.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(NamelstmError, match="incomplete or not a zip"):
        download_names(tmp_path / "a" / "names", truncated.as_uri(), _sums(tiny_data), progress=False)
    with pytest.raises(NamelstmError, match="pass --data DIR"):
        download_names(tmp_path / "b" / "names", (tmp_path / "missing.zip").as_uri(), progress=False)


@pytest.mark.realdata
def test_the_package_knows_the_official_sums(real_data: Path) -> None:
    assert NAMES_SHA256 == {
        line.split()[1]: line.split()[0] for line in (real_data / "SHA256SUMS").read_text().splitlines()
    }


def test_data_dir_order_flag_then_environment(
    tiny_data: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_data_dir(tiny_data) == tiny_data
    monkeypatch.setenv("NAMELSTM_DATA", str(tiny_data))
    assert resolve_data_dir(None) == tiny_data
    with pytest.raises(NamelstmError, match="--data .* is not a directory \\(nor a .csv/.tsv file\\)"):
        resolve_data_dir(isolated / "nope")
    monkeypatch.delenv("NAMELSTM_DATA")
    with pytest.raises(NamelstmError, match="no data in data/names"):
        resolve_data_dir(None, download=False)
