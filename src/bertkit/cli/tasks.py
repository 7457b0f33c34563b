"""`bertkit finetune TASK`, `bertkit evaluate` and `bertkit predict`, dispatched by task.

Each task package `bertkit.tasks.<task>` has a `cli` module with:
- `register_finetune(subparsers)`: adds `bertkit finetune <task>`;
- `add_evaluate_args(parser)` / `add_predict_args(parser)`: task-only options (an option name
  shared by two tasks must mean the same in both);
- `cli_evaluate(args)` / `cli_predict(args)`: run and return an exit code.
`evaluate` and `predict` pick the task from the model's config.json (`architectures`, or the
`bertkit_task` key), or from `--task`.
"""

from __future__ import annotations

import importlib
import json

from bertkit.checkpoint import load_config
from bertkit.errors import InputError
from bertkit.hub import resolve_model

# task name -> module with the functions above
TASK_CLI_MODULES: dict[str, str] = {
    "summarize": "bertkit.tasks.summarization.cli",
    "ner": "bertkit.tasks.ner.cli",
    "classify": "bertkit.tasks.classification.cli",
    "qa": "bertkit.tasks.qa.cli",
    "seq2seq": "bertkit.seq2seq.cli",
}
ARCHITECTURE_TASKS = {
    "BertForSequenceClassification": "classify",
    "BertForTokenClassification": "ner",
    "BertForQuestionAnswering": "qa",
}


def _task_modules():
    return {task: importlib.import_module(name) for task, name in TASK_CLI_MODULES.items()}


def register(subparsers) -> None:
    modules = _task_modules()
    finetune = subparsers.add_parser("finetune", help="fine-tune a pretrained model on labels")
    finetune_tasks = finetune.add_subparsers(dest="task", metavar="TASK", required=True)
    for module in modules.values():
        module.register_finetune(finetune_tasks)

    for command, help_text in (
        ("evaluate", "score a fine-tuned model on labelled data"),
        ("predict", "run a fine-tuned model on new inputs, JSONL out"),
    ):
        parser = subparsers.add_parser(command, help=help_text, conflict_handler="resolve")
        parser.add_argument("model", help="fine-tuned model folder")
        parser.add_argument("--task", choices=sorted(modules), help="default: from config.json")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--max-length", type=int, default=None)
        parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
        if command == "evaluate":
            parser.add_argument("--data", required=True, help="labelled file")
            parser.add_argument("--json", action="store_true", help="print the report as JSON")
            parser.add_argument("--output", help="also write the JSON report to this file")
        else:
            parser.add_argument("--input", required=True, help="input file, or - for stdin")
            parser.add_argument("--output", default="-", help="JSONL output file, or - for stdout")
        owners: dict[str, set[str]] = {}  # option string -> tasks that define it
        for task, module in modules.items():
            known = len(parser._actions)
            getattr(module, f"add_{command}_args")(parser)
            for action in parser._actions[known:]:
                for option in action.option_strings:
                    owners.setdefault(option, set()).add(task)
        parser.set_defaults(func=_dispatch(command, parser, owners))


def _dispatch(command: str, parser, owners: dict[str, set[str]]):
    def run(args) -> int:
        task = args.task or task_of_model(args.model)
        _refuse_other_tasks_options(args, task, parser, owners)
        module = _task_modules()[task]
        return getattr(module, f"cli_{command}")(args)

    return run


def _refuse_other_tasks_options(args, task: str, parser, owners: dict[str, set[str]]) -> None:
    """An option of another task, given a value, would be silently ignored: refuse it."""
    for action in parser._actions:
        foreign = [o for o in action.option_strings if task not in owners.get(o, {task})]
        if foreign and getattr(args, action.dest, action.default) != action.default:
            tasks = " and ".join(sorted(owners[foreign[0]]))
            raise InputError(
                f"{foreign[0]} is an option for {tasks} models, but {args.model} is a {task} "
                f"model; see `bertkit {args.command} --help`"
            )


def task_of_model(model: str) -> str:
    """The task a model folder was fine-tuned for: config.json's `bertkit_task`, else its
    architecture. Read as plain JSON, since an encoder-decoder config is no BERT config."""
    folder = resolve_model(model)
    path = folder / "config.json"
    if not path.is_file() and (folder / "model" / "config.json").is_file():
        raise InputError(
            f"{model} is a run folder; its model is {folder / 'model'} (give that folder)"
        )
    if not path.is_file():
        load_config(folder)  # raises the standard error for a missing folder or config
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object")
    architecture = (data.get("architectures") or ["BertModel"])[0]
    task = data.get("bertkit_task") or ARCHITECTURE_TASKS.get(architecture)
    if architecture == "BertForMaskedLM" and not data.get("bertkit_task"):
        raise InputError(
            f"{model} is a masked-language model (BertForMaskedLM): use `bertkit fill-mask "
            f'{model} "a [MASK] text"`, or fine-tune it for a task first (bertkit finetune)'
        )
    if architecture == "BertModel" and not data.get("bertkit_task"):
        raise InputError(
            f"{model} is an encoder without a task head: use `bertkit embed` for sentence "
            "vectors, or fine-tune it for a task first (bertkit finetune)"
        )
    if task is None or task not in TASK_CLI_MODULES:
        raise InputError(
            f"cannot tell which task {model} was fine-tuned for (architecture "
            f"{architecture}); pass --task {'|'.join(sorted(TASK_CLI_MODULES))}"
        )
    return task
