"""Which task a model folder was trained for, and which endpoints serve that task.

The task comes from config.json: the `bertkit_task` key that bertkit's fine-tuning writes,
else the Hugging Face `architectures` entry, as `bertkit predict` decides it. A bare encoder
serves embeddings (and unsupervised summaries); a masked-LM model serves fill-mask.
"""

from __future__ import annotations

import os

from bertkit.checkpoint import load_config
from bertkit.errors import InputError
from bertkit.hub import resolve_model

# Tasks a server or an export can run, named as the endpoints are.
SERVE_TASKS = ("embed", "classify", "ner", "qa", "fill-mask", "summarize")

ARCHITECTURE_TASKS = {
    "BertModel": "embed",
    "BertForSequenceClassification": "classify",
    "BertForTokenClassification": "ner",
    "BertForQuestionAnswering": "qa",
    "BertForMaskedLM": "fill-mask",
    "BertForPreTraining": "fill-mask",
}

# Endpoints each task serves: the first is the task's own, the others reuse its encoder
# (a bare encoder summarizes by sentence centrality; a fine-tuned summarizer embeds).
TASK_ENDPOINTS = {
    "embed": ("embed", "summarize"),
    "summarize": ("summarize", "embed"),
    "classify": ("classify",),
    "ner": ("ner",),
    "qa": ("qa",),
    "fill-mask": ("fill-mask",),
}
ALL_ENDPOINTS = ("embed", "classify", "ner", "qa", "fill-mask", "summarize")


def task_of_folder(name_or_path: str | os.PathLike) -> str:
    """The serving task of a model folder (or known model name), read from its config.json."""
    config = load_config(resolve_model(name_or_path))
    task = config.extra.get("bertkit_task")
    if task in SERVE_TASKS:
        return task
    architecture = (config.extra.get("architectures") or ["BertModel"])[0]
    if architecture not in ARCHITECTURE_TASKS:
        raise InputError(
            f"cannot tell which task {name_or_path} serves (architecture {architecture}); "
            f"pass --task {'|'.join(SERVE_TASKS)}"
        )
    return ARCHITECTURE_TASKS[architecture]


def task_endpoints(task: str) -> tuple[str, ...]:
    if task not in TASK_ENDPOINTS:
        raise InputError(f"task must be one of {', '.join(SERVE_TASKS)}, got {task!r}")
    return TASK_ENDPOINTS[task]
