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
    hf_files = {"config.json": "{}", "model.safetensors": "x", "pytorch_model.bin": "x"}
    for name, files in (("model", hf_files), ("empty", {})):
        target = tmp_path / name
        target.mkdir()
        for file_name, text in files.items():
            (target / file_name).write_text(text)
        with atomic_write_dir(target) as tmp:
            (tmp / "config.json").write_text('{"new": 1}')
        assert sorted(p.name for p in target.iterdir()) == [".bertkit-files", "config.json"]
        assert (target / "config.json").read_text() == '{"new": 1}'
    with atomic_write_dir(tmp_path / "model") as tmp:  # its own earlier output: replaced again
        (tmp / "config.json").write_text('{"new": 2}')
        (tmp / "extra").mkdir()
    with atomic_write_dir(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text('{"new": 3}')
    assert (tmp_path / "model" / "config.json").read_text() == '{"new": 3}'


def test_files_a_user_added_to_a_model_folder_are_never_deleted(tmp_path):
    target = tmp_path / "model"
    with atomic_write_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "model.safetensors").write_text("x")
    (target / "NOTES.md").write_text("mine")
    (target / "results").mkdir()
    with pytest.raises(InputError, match=r"NOTES\.md, results/"):
        check_output_folder(target)
    with pytest.raises(InputError, match="did not write"):
        with atomic_write_dir(target) as tmp:
            (tmp / "config.json").write_text('{"new": 1}')
    assert (target / "NOTES.md").read_text() == "mine" and (target / "results").is_dir()
    assert (target / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left

    # Added while a long run was writing its new folder: refused at the swap, nothing lost.
    (target / "NOTES.md").unlink()
    (target / "results").rmdir()
    with pytest.raises(InputError, match="late.txt"):
        with atomic_write_dir(target) as tmp:
            (target / "late.txt").write_text("mine too")
            (tmp / "config.json").write_text('{"new": 2}')
    assert (target / "late.txt").read_text() == "mine too"


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


def test_a_report_file_path_that_is_a_folder_is_refused(tmp_path):
    from bertkit.io_utils import atomic_write_file

    with pytest.raises(InputError, match="is a folder; give the path of a file"):
        with atomic_write_file(tmp_path, encoding="utf-8") as handle:
            handle.write("x")
    assert list(tmp_path.iterdir()) == []


def test_results_written_beside_a_model_count_as_bertkit_output(tmp_path):
    from bertkit.io_utils import add_output_file

    target = tmp_path / "model"
    with atomic_write_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
    with add_output_file(target, "eval_results.json") as handle:
        handle.write("{}")
    (target / "NOTES.md").write_text("mine")
    with pytest.raises(InputError) as caught:  # the user's file is still refused ...
        check_output_folder(target)
    assert "NOTES.md" in str(caught.value) and "eval_results" not in str(caught.value)
    (target / "NOTES.md").unlink()
    with atomic_write_dir(target) as tmp:  # ... the results file is not
        (tmp / "config.json").write_text('{"new": 1}')
    assert sorted(p.name for p in target.iterdir()) == [".bertkit-files", "config.json"]


def test_finetune_with_eval_can_rerun_into_its_own_output(tmp_path, tiny_folder):
    from bertkit.cli import main

    rows = "".join(f"{word} film,{label}\n" for word, label in [("good", "pos"), ("bad", "neg")])
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + rows * 4)
    argv = ["finetune", "classify", "--model", str(tiny_folder), "--train", str(data)]
    argv += ["--eval", str(data), "--out", str(tmp_path / "out"), "--max-steps", "1"]
    argv += ["--no-progress", "--output-dir", str(tmp_path / "run")]
    assert main(argv) == 0
    assert (tmp_path / "out" / "eval_results.json").is_file()
    assert main([*argv[:-2], "--output-dir", str(tmp_path / "run2")]) == 0  # a second run


def test_saved_model_files_are_readable_like_any_other_file(tmp_path, tiny_folder):
    import os

    from bertkit.checkpoint import load_model, save_model

    model, _ = load_model(tiny_folder, "encoder")
    old = os.umask(0o022)
    try:
        save_model(model, tmp_path / "saved")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "saved").iterdir()}
    assert modes["model.safetensors"] == 0o644, modes  # safetensors alone writes 0600


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, tiny_folder, monkeypatch, capsys):
    from bertkit.cli import main
    from bertkit.training import Trainer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train", interrupted)
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood film,pos\nbad film,neg\n")
    argv = ["finetune", "classify", "--model", str(tiny_folder), "--train", str(data)]
    assert main([*argv, "--out", str(tmp_path / "out"), "--save-every", "50"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "every 50 steps" in err and "--resume" in err


def test_run_folder_mistakes_are_refused_before_training(tmp_path, tiny_folder, capsys):
    from bertkit.cli import main

    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood film,pos\nbad film,neg\n")
    argv = ["finetune", "classify", "--model", str(tiny_folder), "--train", str(data)]
    argv += ["--max-steps", "1", "--no-progress"]
    same = str(tmp_path / "same")
    assert main([*argv, "--out", same, "--output-dir", same]) == 2
    assert "--out and --output-dir are both" in capsys.readouterr().err
    assert not (tmp_path / "same").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.csv").write_text("my,own,numbers\n1,2,3\n")
    assert main([*argv, "--out", str(tmp_path / "m1"), "--output-dir", str(mine)]) == 2
    assert "metrics.csv was not written by bertkit" in capsys.readouterr().err
    assert (mine / "metrics.csv").read_text() == "my,own,numbers\n1,2,3\n"

    (tmp_path / "afile").write_text("x")
    assert (
        main([*argv, "--out", str(tmp_path / "m2"), "--output-dir", str(tmp_path / "afile")]) == 2
    )
    assert "is a file; give a folder" in capsys.readouterr().err
