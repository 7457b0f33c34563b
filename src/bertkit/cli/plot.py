"""`bertkit plot RUN_DIR`: training curves from a run's metrics.csv, saved as curves.png."""

from __future__ import annotations

import math
from pathlib import Path

from bertkit.errors import BertkitError, InputError
from bertkit.io_utils import atomic_write_file
from bertkit.training.metrics_log import METRICS_FILE, read_metrics

CURVES_FILE = "curves.png"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot", help="draw loss, learning rate and eval curves of a training run"
    )
    parser.add_argument("run_dir", help="a training --output-dir holding metrics.csv")
    parser.add_argument("--output", help=f"image path (default: RUN_DIR/{CURVES_FILE})")
    parser.set_defaults(func=run_plot)


def run_plot(args) -> int:
    output = plot_run(Path(args.run_dir), Path(args.output) if args.output else None)
    print(output)
    return 0


IMAGE_FORMATS = ("png", "pdf", "svg")


def plot_run(run_dir: Path, output: Path | None = None) -> Path:
    """Draw train loss, learning rate and every eval_* metric against the step; return the path."""
    metrics_path = run_dir / METRICS_FILE
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} is a file; give the run folder (a training --output-dir)")
    if not run_dir.is_dir():
        raise InputError(f"run folder {run_dir} does not exist")
    if not metrics_path.is_file():
        raise InputError(f"{run_dir} has no {METRICS_FILE}; is it a training --output-dir?")
    output = Path(output) if output is not None else run_dir / CURVES_FILE
    image_format = output.suffix.lower().lstrip(".")
    if image_format not in IMAGE_FORMATS:
        raise InputError(
            f"--output {output}: give a file name ending in "
            + ", ".join(f".{name}" for name in IMAGE_FORMATS)
            + " (the image format follows the extension)"
        )
    if not output.parent.is_dir():
        raise InputError(f"--output {output}: folder {output.parent} does not exist")
    columns, rows = read_metrics(metrics_path)
    series = {name: _series(rows, name) for name in columns if name not in ("step", "epoch")}
    panels = plan_panels(columns, series)
    if not panels:
        raise InputError(f"{metrics_path} holds no loss, learning-rate or eval values to plot")

    pyplot = _pyplot()
    figure, axes = pyplot.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True)
    axes = axes if len(panels) > 1 else [axes]
    for axis, (title, names) in zip(axes, panels, strict=True):
        for name in names:
            steps, values = zip(*series[name], strict=True)
            marker = "o" if name.startswith("eval_") else None
            axis.plot(steps, values, label=name, marker=marker, markersize=3)
        if "perplexity" in title:
            axis.set_yscale("log")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    axes[-1].set_xlabel("optimizer step")
    figure.tight_layout()

    with atomic_write_file(output, "wb") as handle:
        figure.savefig(handle, format=image_format, dpi=120)
    pyplot.close(figure)
    return output


def plan_panels(
    columns: list[str], series: dict[str, list[tuple[int, float]]]
) -> list[tuple[str, list[str]]]:
    """(title, metric names) per panel, so that no axis mixes scales.

    Train and eval losses share a panel and the learning rate has its own. Eval metrics whose
    values all lie in [0, 1] (accuracy, F1, ...) share an "evaluation scores" panel; any other
    eval metric (perplexity, ...) gets a panel of its own, since putting a perplexity of 500
    and an accuracy of 0.2 on one axis flattens the accuracy to a line at zero.
    """
    eval_names = [name for name in columns if name.startswith("eval_") and series.get(name)]
    eval_losses = [name for name in eval_names if "loss" in name]
    scores = [
        name
        for name in eval_names
        if name not in eval_losses and all(0.0 <= value <= 1.0 for _, value in series[name])
    ]
    others = [name for name in eval_names if name not in eval_losses and name not in scores]
    panels = [("loss", ["loss", *eval_losses]), ("learning rate", ["lr"])]
    panels += [(name.removeprefix("eval_").replace("_", " "), [name]) for name in others]
    panels.append(("evaluation scores", scores))
    panels = [(title, [name for name in names if series.get(name)]) for title, names in panels]
    return [(title, names) for title, names in panels if names]


def _series(rows: list[dict[str, str]], name: str) -> list[tuple[int, float]]:
    points = []
    for row in rows:
        text = row.get(name) or ""
        try:
            value = float(text)
        except ValueError:
            continue
        if math.isfinite(value):
            points.append((int(row["step"]), value))
    return points


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise BertkitError("bertkit plot needs matplotlib: pip install 'bertkit[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot
