"""`bertkit plot RUN_DIR` writes curves.png from metrics.csv, or fails with a clear message."""

import builtins

import pytest
import torch
from trainer_tiny import TinyDataset, make_evaluate_fn, tiny_model

from bertkit.cli import main
from bertkit.cli.plot import plan_panels, plot_run
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


def test_accuracy_and_perplexity_never_share_an_axis():
    columns = ["step", "epoch", "loss", "lr", "eval_loss", "eval_perplexity", "eval_accuracy"]
    series = {
        "loss": [(10, 7.0), (20, 6.0)],
        "lr": [(10, 1e-3), (20, 5e-4)],
        "eval_loss": [(20, 6.2)],
        "eval_perplexity": [(20, 492.7)],
        "eval_accuracy": [(20, 0.12)],
    }
    assert plan_panels(columns, series) == [
        ("loss", ["loss", "eval_loss"]),
        ("learning rate", ["lr"]),
        ("perplexity", ["eval_perplexity"]),
        ("evaluation scores", ["eval_accuracy"]),
    ]


def test_plot_output_format_follows_the_extension(tmp_path, capsys):
    run_dir = _run_dir(tmp_path, with_eval=False)
    assert main(["plot", str(run_dir), "--output", str(tmp_path / "curves.pdf")]) == 0
    assert (tmp_path / "curves.pdf").read_bytes()[:5] == b"%PDF-"
    assert main(["plot", str(run_dir), "--output", str(tmp_path / "curves.txt")]) == 2
    assert ".png, .pdf, .svg" in capsys.readouterr().err
    assert main(["plot", str(run_dir), "--output", str(tmp_path / "no" / "dir" / "c.png")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "no").exists()
