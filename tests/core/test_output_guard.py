"""Writing an output folder never deletes files that bertkit did not write."""

import pytest

from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_dir, check_output_folder


def test_a_folder_of_user_files_is_refused_and_kept(tmp_path):
    target = tmp_path / "project"
    target.mkdir()
    (target / "train.csv").write_text("text,label\n")
    with pytest.raises(InputError, match="refusing to replace"):
        with atomic_write_dir(target) as tmp:
            (tmp / "config.json").write_text("{}")
    assert (target / "train.csv").read_text() == "text,label\n"
    assert not (target / "config.json").exists()


def test_a_file_is_refused(tmp_path):
    target = tmp_path / "train.csv"
    target.write_text("keep me")
    with pytest.raises(InputError, match="not a folder"):
        check_output_folder(target)
    assert target.read_text() == "keep me"


def test_an_earlier_model_folder_or_an_empty_folder_is_replaced(tmp_path):
    for name, files in (("model", {"config.json": "{}", "old.txt": "x"}), ("empty", {})):
        target = tmp_path / name
        target.mkdir()
        for file_name, text in files.items():
            (target / file_name).write_text(text)
        with atomic_write_dir(target) as tmp:
            (tmp / "config.json").write_text('{"new": 1}')
        assert sorted(p.name for p in target.iterdir()) == ["config.json"]


def test_caches_may_replace_anything(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "train.csv").write_text("old")
    with atomic_write_dir(target, replace_any=True) as tmp:
        (tmp / "train.csv").write_text("new")
    assert (target / "train.csv").read_text() == "new"


def test_finetune_refuses_before_training(tmp_path, tiny_folder, capsys):
    from bertkit.cli import main

    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood film,pos\nbad film,neg\n")
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = main(
        [
            "finetune",
            "classify",
            "--model",
            str(tiny_folder),
            "--train",
            str(data),
            "--out",
            str(out),
            "--max-steps",
            "1",
        ]
    )
    assert code == 2
    assert (out / "notes.txt").read_text() == "mine"
    assert "refusing to replace" in capsys.readouterr().err
