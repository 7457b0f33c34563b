"""Training metrics: one CSV row per logged step in `output_dir/metrics.csv`, plus TensorBoard.

The CSV is wide (a column per metric). Rows are appended; when a metric appears for the first
time (an eval metric, say) the whole file is rewritten atomically with the wider header. Floats
are written with `repr`, which round-trips exactly. On resume, rows logged after the checkpoint
by the interrupted run are dropped so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path

from bertkit.io_utils import atomic_write_file

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
LEADING_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "examples_per_s", "tokens_per_s"]


def read_metrics(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a metrics CSV; a torn last line (from a crash) is skipped."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = []
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                continue  # wrong field count: a line cut short by a crash
            try:
                int(row["step"])
            except (KeyError, ValueError):
                continue
            rows.append(row)
    return columns, rows


class MetricsLog:
    """Writes metrics rows on rank 0; on other ranks every method does nothing."""

    def __init__(self, output_dir: Path, *, enabled: bool, resume_step: int | None = None):
        self.path = Path(output_dir) / METRICS_FILE
        self.enabled = enabled
        self.columns: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.tensorboard = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            self.columns, rows = read_metrics(self.path)
            self.rows = [row for row in rows if int(row["step"]) <= resume_step]
        self._rewrite()
        self.tensorboard = _open_tensorboard(Path(output_dir) / "tensorboard")

    def log(self, values: Mapping[str, float | int | None]) -> None:
        """Append one row; `values` must contain "step"."""
        if not self.enabled:
            return
        row = {key: _format(value) for key, value in values.items() if value is not None}
        new_columns = [key for key in row if key not in self.columns]
        self.rows.append(row)
        if new_columns:
            self.columns = _ordered(self.columns + new_columns)
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as handle:
                csv.DictWriter(handle, self.columns).writerow(row)
        if self.tensorboard is not None:
            step = int(values["step"])
            for key, value in values.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def _rewrite(self) -> None:
        with atomic_write_file(self.path, newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            if self.columns:
                writer.writeheader()
                writer.writerows(self.rows)


def _ordered(columns: list[str]) -> list[str]:
    leading = [name for name in LEADING_COLUMNS if name in columns]
    return leading + [name for name in columns if name not in LEADING_COLUMNS]


def _format(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _open_tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.debug("tensorboard is not installed; metrics go to %s only", METRICS_FILE)
        return None
    return SummaryWriter(log_dir=str(folder))
