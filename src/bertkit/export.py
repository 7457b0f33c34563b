"""Export a model for deployment: TorchScript or ONNX, with its tokenizer and config.

    from bertkit.export import export_model, ExportedModel
    export_model("runs/sentiment", "deploy/sentiment", "onnx")
    ExportedModel("deploy/sentiment")(["A gripping film."])["logits"]  # (1, num_labels)

The graph is a thin wrapper, (input_ids, attention_mask, token_type_ids) -> the task's output
tensors, traced with `torch.jit.trace` (TorchScript) or exported by torch's TorchScript-based
ONNX exporter, with the batch and sequence axes dynamic. The folder also holds config.json,
the tokenizer files and `export.json` (inputs, outputs, axes, how it was verified), so it
deploys on its own. Before the folder appears, the exported graph is run on inputs of other
shapes than the traced ones and compared with the eager model (max |difference| <= atol); the
folder is written atomically, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertkit.errors import BertkitError, InputError
from bertkit.hub import resolve_model
from bertkit.inference import mean_pool
from bertkit.io_utils import atomic_write_dir
from bertkit.pretrained import load_pretrained
from bertkit.serving.model_task import task_of_folder
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("torchscript", "onnx")
MODEL_FILES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
MANIFEST_NAME = "export.json"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_OPSET = 17

# task -> (bertkit model task, output names with their dynamic axes)
TASK_OUTPUTS: dict[str, tuple[str, dict[str, dict[int, str]]]] = {
    "embed": (
        "encoder",
        {
            "last_hidden_state": {0: "batch", 1: "sequence"},  # (B, T, H)
            "pooler_output": {0: "batch"},  # (B, H): tanh(W h_[CLS] + b)
            "sentence_embedding": {0: "batch"},  # (B, H): mean of the real tokens' vectors
        },
    ),
    "classify": ("sequence-classification", {"logits": {0: "batch"}}),  # (B, labels)
    "ner": ("token-classification", {"logits": {0: "batch", 1: "sequence"}}),  # (B, T, labels)
    "qa": (
        "question-answering",
        {
            "start_logits": {0: "batch", 1: "sequence"},  # (B, T)
            "end_logits": {0: "batch", 1: "sequence"},  # (B, T)
        },
    ),
    "fill-mask": ("masked-lm", {"logits": {0: "batch", 1: "sequence"}}),  # (B, T, vocab)
}

# Traced on one shape, verified on others: a pair batch (token types 1) and a single text.
TRACE_TEXTS = ["The quick brown fox jumps over the lazy dog.", "Hello world."]
CHECK_TEXTS = [
    ["Paris is a city in France.", "Is it?", "A somewhat longer text, with more words in it."],
    ["Who wrote it?", "Nobody knows.", "Short."],
]
SINGLE_TEXT = ["One text alone, of another length than the others"]


class ExportError(BertkitError):
    """The export failed or its outputs differ from the eager model's."""


class ExportWrapper(nn.Module):
    """(input_ids, attention_mask, token_type_ids), each (B, T) int64 -> the task's outputs."""

    def __init__(self, model: nn.Module, outputs: list[str]):
        super().__init__()
        self.model = model
        self.outputs = outputs

    def forward(self, input_ids, attention_mask, token_type_ids) -> tuple[torch.Tensor, ...]:
        result = self.model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        values = []
        for name in self.outputs:
            if name == "sentence_embedding":
                values.append(mean_pool(result.last_hidden_state, attention_mask))
            else:
                values.append(getattr(result, name))
        return tuple(values)


@dataclass
class ExportReport:
    """What was exported, where, and how closely it matches the eager model."""

    folder: str
    format: str
    task: str
    model_file: str
    inputs: list[str]
    outputs: dict[str, dict[int, str]]
    opset: int | None
    torch_version: str
    verified: bool  # False when ONNX Runtime was missing or verification was turned off
    max_abs_diff: float | None  # over every output and every check batch
    atol: float
    labels: list[str] | None = None
    max_length: int = 512
    notes: list[str] = field(default_factory=list)


def export_model(
    model: str | os.PathLike,
    out: str | os.PathLike,
    format: str = "torchscript",
    task: str | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    atol: float = 1e-4,
) -> ExportReport:
    """Export `model` (a folder or known name) to the folder `out` in `format`."""
    if format not in EXPORT_FORMATS:
        raise InputError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    folder = resolve_model(model)
    task = task or task_of_folder(folder)
    if task not in TASK_OUTPUTS:
        raise InputError(
            f"cannot export a {task!r} model: exportable tasks are {', '.join(TASK_OUTPUTS)} "
            "(a supervised summarizer packs sentences in Python; export its encoder with "
            "--task embed)"
        )
    if format == "onnx":
        _check_onnx_exporter()
    out = Path(out)
    if out.resolve() == folder.resolve():
        raise InputError("the export folder must differ from the model folder")
    model_task, outputs = TASK_OUTPUTS[task]
    loaded, tokenizer, load_report = load_pretrained(folder, model_task)
    if load_report.initialised_heads:
        raise InputError(
            f"{folder} has no trained {', '.join(load_report.initialised_heads)}: exporting "
            "random head weights would deploy a model that predicts noise; fine-tune it first"
        )
    wrapper = ExportWrapper(loaded.float().eval(), list(outputs)).eval()
    report = ExportReport(
        folder=str(out),
        format=format,
        task=task,
        model_file=MODEL_FILES[format],
        inputs=list(INPUT_NAMES),
        outputs=outputs,
        opset=opset if format == "onnx" else None,
        torch_version=torch.__version__,
        verified=False,
        max_abs_diff=None,
        atol=atol,
        labels=[loaded.config.id2label[i] for i in sorted(loaded.config.id2label)]
        if loaded.config.id2label and task in ("classify", "ner")
        else None,
        max_length=loaded.config.max_position_embeddings,
    )
    example = _encode(tokenizer, TRACE_TEXTS, None, report.max_length)
    with atomic_write_dir(out) as tmp:
        model_path = tmp / report.model_file
        with _quiet_tracing():
            if format == "torchscript":
                _export_torchscript(wrapper, example, model_path)
            else:
                _export_onnx(wrapper, example, model_path, outputs, opset)
        shutil.copyfile(folder / "config.json", tmp / "config.json")
        tokenizer.save(tmp)
        if verify:
            _verify(wrapper, tmp, tokenizer, report)
        else:
            report.notes.append("not verified (--no-verify)")
        (tmp / MANIFEST_NAME).write_text(json.dumps(asdict(report), indent=2) + "\n")
    logger.info("exported %s (%s) to %s", folder, format, out)
    return report


def _encode(tokenizer: Tokenizer, texts, pairs, max_length: int) -> tuple[torch.Tensor, ...]:
    encoded = tokenizer(
        texts, pairs, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    return tuple(encoded[name].long() for name in INPUT_NAMES)


@contextlib.contextmanager
def _quiet_tracing():
    """Tracing warns about Python branches on tensor values (bertkit's input checks, which
    cannot fail on the traced inputs) and about deprecations; neither concerns the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _export_torchscript(wrapper: nn.Module, example, path: Path) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(wrapper, example, check_trace=False)
    torch.jit.save(traced, str(path))


def _check_onnx_exporter() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError(
            "ONNX export needs the onnx package (and onnxruntime to verify the result): "
            "`pip install 'bertkit[export]'` or `pip install onnx onnxruntime`"
        ) from None


def _export_onnx(wrapper: nn.Module, example, path: Path, outputs, opset: int) -> None:
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes.update(outputs)
    try:
        with torch.no_grad():
            # The TorchScript-based exporter: the dynamo one needs onnxscript and cannot trace
            # through the encoder's input checks without it.
            torch.onnx.export(
                wrapper,
                example,
                str(path),
                dynamo=False,
                input_names=list(INPUT_NAMES),
                output_names=list(outputs),
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
            )
    except (TypeError, RuntimeError, ValueError) as error:
        raise ExportError(f"torch.onnx.export failed (opset {opset}): {error}") from None


def _verify(wrapper: nn.Module, folder: Path, tokenizer: Tokenizer, report: ExportReport) -> None:
    """Run the exported graph on shapes it was not traced with; compare with eager outputs."""
    if report.format == "onnx" and not _has_onnxruntime():
        report.notes.append("not verified: onnxruntime is not installed")
        logger.warning("onnxruntime is not installed: the ONNX graph was not verified")
        return
    exported = ExportedModel(folder, tokenizer=tokenizer, manifest=report)
    worst = 0.0
    for texts, pairs in ((CHECK_TEXTS[0], CHECK_TEXTS[1]), (SINGLE_TEXT, None)):
        inputs = _encode(tokenizer, texts, pairs, report.max_length)
        with torch.no_grad():
            expected = [value.numpy() for value in wrapper(*inputs)]
        got = exported.run(*(value.numpy() for value in inputs))
        for name, reference in zip(report.outputs, expected, strict=True):
            if got[name].shape != reference.shape:
                raise ExportError(
                    f"exported output {name} has shape {got[name].shape} on a batch of shape "
                    f"{tuple(inputs[0].shape)}, the eager model {reference.shape}: the graph "
                    "did not keep its dynamic axes"
                )
            worst = max(worst, float(np.abs(got[name] - reference).max()))
    report.max_abs_diff = worst
    if worst > report.atol:
        raise ExportError(
            f"the exported model's outputs differ from the eager model's by up to {worst:.2e} "
            f"(tolerance {report.atol:.0e}); nothing was written"
        )
    report.verified = True


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class ExportedModel:
    """An exported folder, runnable without bertkit's model code: tokenizer + graph.

    `run(input_ids, attention_mask, token_type_ids)` takes (B, T) int64 arrays and returns
    the outputs by name as numpy arrays; calling it with texts tokenises them first.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        tokenizer: Tokenizer | None = None,
        manifest: ExportReport | None = None,
        threads: int | None = None,
    ):
        """`threads`: ONNX Runtime intra-op threads (TorchScript follows torch's setting)."""
        self.folder = Path(folder)
        if manifest is None:
            manifest_path = self.folder / MANIFEST_NAME
            if not manifest_path.is_file():
                raise InputError(f"{self.folder} has no {MANIFEST_NAME}: not a bertkit export")
            manifest = ExportReport(**json.loads(manifest_path.read_text(encoding="utf-8")))
        self.manifest = manifest
        self.tokenizer = tokenizer or Tokenizer.from_pretrained(self.folder)
        self.output_names = list(manifest.outputs)
        model_path = self.folder / manifest.model_file
        if manifest.format == "torchscript":
            with _quiet_tracing():
                self._module = torch.jit.load(str(model_path), map_location="cpu").eval()
        else:
            try:
                import onnxruntime
            except ImportError:
                raise ExportError(
                    "running an ONNX export needs onnxruntime: `pip install onnxruntime`"
                ) from None
            options = onnxruntime.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self._session = onnxruntime.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )

    def run(self, input_ids, attention_mask, token_type_ids) -> dict[str, np.ndarray]:
        arrays = [
            np.asarray(value, dtype=np.int64)
            for value in (input_ids, attention_mask, token_type_ids)
        ]
        if self.manifest.format == "torchscript":
            with torch.no_grad():
                values = self._module(*(torch.from_numpy(array) for array in arrays))
            values = [value.numpy() for value in values]
        else:
            values = self._session.run(
                self.output_names, dict(zip(INPUT_NAMES, arrays, strict=True))
            )
        return dict(zip(self.output_names, values, strict=True))

    def __call__(self, texts: list[str], text_pairs: list[str] | None = None) -> dict[str, Any]:
        inputs = _encode(self.tokenizer, texts, text_pairs, self.manifest.max_length)
        return self.run(*(value.numpy() for value in inputs))
