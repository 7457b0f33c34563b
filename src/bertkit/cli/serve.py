"""`bertkit serve MODEL` (HTTP server) and `bertkit export MODEL` (TorchScript / ONNX)."""

from __future__ import annotations

import logging
import socket

from bertkit.errors import BertkitError
from bertkit.serving.model_task import SERVE_TASKS
from bertkit.serving.settings import ServerSettings

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (JSON endpoints per task)",
        description="Load MODEL once and serve JSON endpoints for its task; see docs/serving.md.",
    )
    parser.add_argument("model", help="model folder or known name (e.g. minilm)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--task", choices=SERVE_TASKS, help="default: from config.json")
    defaults = ServerSettings()
    parser.add_argument(
        "--max-texts", type=int, default=defaults.max_texts, help="texts (or QA pairs) per request"
    )
    parser.add_argument("--max-text-chars", type=int, default=defaults.max_text_chars)
    parser.add_argument(
        "--max-document-chars",
        type=int,
        default=defaults.max_document_chars,
        help="characters per /summarize document or /qa context",
    )
    parser.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes)
    parser.add_argument("--max-top-k", type=int, default=defaults.max_top_k)
    parser.add_argument(
        "--no-truncate",
        action="store_true",
        help="reject texts longer than the model's limit (422) instead of "
        'truncating them; requests may override with "truncate"',
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per text for embed/classify (default: the model's)",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--max-batch-texts",
        type=int,
        default=defaults.max_batch_texts,
        help="texts that concurrent requests may share in one model call",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=defaults.max_wait_ms,
        help="how long a request may wait for others to join its batch",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=defaults.max_queue,
        help="requests waiting for the model before new ones get 503",
    )
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.set_defaults(func=run_serve)

    parser = subparsers.add_parser(
        "export",
        help="export a model to TorchScript or ONNX with its tokenizer",
        description="Write a self-contained deployment folder: the traced graph, config.json, "
        "the tokenizer files and export.json; outputs are checked against the "
        "eager model before the folder appears.",
    )
    parser.add_argument("model", help="model folder or known name")
    parser.add_argument("--format", choices=["torchscript", "onnx"], required=True)
    parser.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    parser.add_argument(
        "--task",
        choices=["embed", "classify", "ner", "qa", "fill-mask"],
        help="default: from config.json",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument(
        "--atol",
        type=float,
        default=1e-4,
        help="largest allowed |exported - eager| output difference",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the output comparison")
    parser.set_defaults(func=run_export)


def run_serve(args) -> int:
    try:
        import uvicorn
    except ImportError:
        raise BertkitError(
            "`bertkit serve` needs uvicorn and FastAPI: `pip install 'bertkit[serve]'`"
        ) from None
    if not 0 < args.port < 65536:
        raise BertkitError(f"--port must be in 1..65535, got {args.port}")
    _check_port_free(args.host, args.port)
    from bertkit.serving.app import create_app

    settings = ServerSettings(
        max_texts=args.max_texts,
        max_text_chars=args.max_text_chars,
        max_document_chars=args.max_document_chars,
        max_body_bytes=args.max_body_bytes,
        max_top_k=args.max_top_k,
        truncate=not args.no_truncate,
        max_length=args.max_length,
        batch_size=args.batch_size,
        max_batch_texts=args.max_batch_texts,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        pooling=args.pooling,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
    )
    app = create_app(args.model, task=args.task, settings=settings)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning(
            "binding %s: the server is reachable from other machines and has no "
            "authentication; put it behind a proxy that has",
            args.host,
        )
    engine = app.state.engine
    print(
        f"serving {engine.folder} ({engine.task}) on http://{args.host}:{args.port} "
        f"- endpoints: {', '.join('/' + name for name in engine.handlers)}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Fail in a second, before the model loads, if the address cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise BertkitError(f"--host {host!r} cannot be resolved: {error}") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise BertkitError(
                f"cannot listen on {host}:{port} ({error.strerror}); pick another --port"
            ) from None


def run_export(args) -> int:
    from bertkit.export import export_model

    report = export_model(
        args.model,
        args.out,
        args.format,
        task=args.task,
        opset=args.opset,
        verify=not args.no_verify,
        atol=args.atol,
    )
    if report.verified:
        check = f"outputs match the eager model (max |diff| {report.max_abs_diff:.1e})"
    else:
        check = "; ".join(report.notes) or "not verified"
    print(f"exported {args.model} ({report.task}) as {report.format} to {report.folder}: {check}")
    return 0
