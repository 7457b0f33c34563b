"""`bertkit plot RUN_DIR` writes curves.png from metrics.csv, or fails with a clear message."""

import builtins

import pytest
import torch
from trainer_tiny import TinyDataset, make_evaluate_fn, tiny_model

from bertkit.cli import main
from bertkit.cli.plot import plot_run
from bertkit.errors import BertkitError, InputError
from bertkit.training import Trainer, TrainingConfig

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
torch.set_num_threads(1)


def _run_dir(tmp_path, with_eval: bool):
    dataset = TinyDataset(16)
    config = TrainingConfig(
        output_dir=str(tmp_path / "run"),
        max_steps=6,
        batch_size=4,
        log_every=1,
        eval_every=2 if with_eval else 0,
        save_every=0,
    )
    evaluate_fn = make_evaluate_fn(dataset) if with_eval else None
    Trainer(tiny_model(), config, dataset, evaluate_fn=evaluate_fn).train()
    return tmp_path / "run"


@pytest.mark.parametrize("with_eval", [True, False])
def test_plot_writes_a_png_into_the_run_folder(tmp_path, capsys, with_eval):
    run_dir = _run_dir(tmp_path, with_eval)
    assert main(["plot", str(run_dir)]) == 0
    curves = run_dir / "curves.png"
    assert curves.read_bytes()[:8] == PNG_SIGNATURE
    assert capsys.readouterr().out.strip() == str(curves)
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".curves.png.tmp")]


def test_plot_missing_folder_or_metrics_is_an_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(InputError, match="metrics.csv"):
        plot_run(tmp_path)
    (tmp_path / "metrics.csv").write_text("step,epoch\n1,0\n")
    with pytest.raises(InputError, match="no loss"):
        plot_run(tmp_path)


def test_plot_without_matplotlib_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "metrics.csv").write_text("step,epoch,loss,lr\n1,0,2.0,0.1\n2,0,1.5,0.1\n")
    real_import = builtins.__import__

    def refuse_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_matplotlib)
    with pytest.raises(BertkitError, match="matplotlib"):
        plot_run(tmp_path)
    assert not (tmp_path / "curves.png").exists()
