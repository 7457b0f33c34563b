"""The FastAPI application: routes, error responses and the app's lifetime.

Every error is JSON, `{"error": {"type": ..., "message": ...}}`: bad JSON is 400, a body that
breaks the schema 422 (with the offending field), bertkit's InputError 422 and other
BertkitErrors 400, an endpoint of another task 400, a disabled one 501, a full queue 503, an
over-large body 413. Anything else is a server bug: 500, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from bertkit.errors import BertkitError, InputError

try:
    from fastapi import Body, Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import TypeAdapter, ValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise BertkitError(
        f"the HTTP server needs FastAPI and uvicorn ({error}); install them with "
        "`pip install 'bertkit[serve]'`"
    ) from None

from bertkit.serving.batching import MicroBatcher, ServerBusy, ServerStopping
from bertkit.serving.engine import EndpointUnavailable, ServingEngine
from bertkit.serving.schemas import (
    ClassifyRequest,
    EmbedRequest,
    FillMaskRequest,
    NerRequest,
    QAItem,
    SummarizeRequest,
    check_qa_items,
    check_text,
    check_texts,
)
from bertkit.serving.settings import ServerSettings

logger = logging.getLogger(__name__)


def create_app(
    model: str | os.PathLike | ServingEngine,
    task: str | None = None,
    settings: ServerSettings | None = None,
) -> FastAPI:
    """The app serving `model` (a folder, a known name, or a loaded ServingEngine)."""
    engine = model if isinstance(model, ServingEngine) else ServingEngine(model, task, settings)
    settings = engine.settings
    batcher = MicroBatcher(
        engine.run,
        max_items=max(settings.max_batch_texts, settings.max_texts),
        max_wait_s=settings.max_wait_ms / 1000,
        max_queue=settings.max_queue,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        try:
            yield
        finally:
            batcher.close()

    app = FastAPI(
        title="bertkit",
        description=f"{engine.task} with {engine.folder.name}",
        version=engine.info()["bertkit_version"],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.batcher = batcher
    _add_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    async def infer(endpoint: str, items: list, mergeable: bool = True, **options) -> list:
        engine.check_endpoint(endpoint)
        key = (endpoint, tuple(sorted(options.items())))
        return await asyncio.wrap_future(batcher.submit(key, items, mergeable))

    def served(endpoint: str):
        """A dependency refusing an endpoint this server cannot run, before the body is read."""

        def check() -> None:
            engine.check_endpoint(endpoint)

        return check

    def truncate(flag: bool | None) -> bool:
        return settings.truncate if flag is None else flag

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness: the model is loaded and the inference thread is running."""
        return {"status": "ok", "task": engine.task}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The model, its task, labels, token limit and this server's limits."""
        return {**engine.info(), "batches_run": batcher.calls, "requests_done": batcher.jobs}

    @app.post("/embed", dependencies=[Depends(served("embed"))])
    async def embed(request: EmbedRequest) -> dict[str, Any]:
        """One vector per text (mean-pooled or [CLS], as the server was started)."""
        check_texts(request.texts, settings)
        vectors = await infer(
            "embed",
            request.texts,
            normalize=request.normalize,
            truncate=truncate(request.truncate),
        )
        return {"embeddings": vectors, "dimension": engine.config.hidden_size}

    @app.post("/classify", dependencies=[Depends(served("classify"))])
    async def classify(request: ClassifyRequest) -> dict[str, Any]:
        """The label and its probability for each text (or text pair)."""
        check_texts(request.texts, settings)
        pairs = request.text_pairs
        if pairs is not None:
            if len(pairs) != len(request.texts):
                raise InputError(
                    f"`text_pairs` has {len(pairs)} items but `texts` has {len(request.texts)}"
                )
            check_texts(pairs, settings, "text_pairs")
        items = list(zip(request.texts, pairs or [None] * len(request.texts), strict=True))
        predictions = await infer(
            "classify",
            items,
            pairs=pairs is not None,
            all_scores=request.all_scores,
            truncate=truncate(request.truncate),
        )
        return {"predictions": predictions}

    @app.post("/ner", dependencies=[Depends(served("ner"))])
    async def ner(request: NerRequest) -> dict[str, Any]:
        """Entities of each text with character offsets: text[start:end] == entity text."""
        check_texts(request.texts, settings)
        return {"entities": await infer("ner", request.texts)}

    @app.post("/qa", dependencies=[Depends(served("qa"))])
    async def qa(payload: Any = Body(...)) -> Any:  # noqa: B008
        """The answer span for {question, context}, or a list of answers for a list of them."""
        items = _qa_items(payload)
        check_qa_items(items, settings)
        answers = await infer("qa", [(item.question, item.context, item.n_best) for item in items])
        return answers if isinstance(payload, list) else answers[0]

    @app.post("/fill-mask", dependencies=[Depends(served("fill-mask"))])
    async def fill_mask(request: FillMaskRequest) -> dict[str, Any]:
        """The top_k tokens for each [MASK], left to right, with probabilities."""
        if request.top_k > settings.max_top_k:
            raise InputError(
                f"top_k is {request.top_k} but this server allows at most {settings.max_top_k}"
            )
        texts = [request.text] if request.text is not None else request.texts
        check_texts(texts, settings, "text" if request.text is not None else "texts")
        results = await infer(
            "fill-mask", texts, top_k=request.top_k, truncate=truncate(request.truncate)
        )
        if request.text is not None:
            return {"masks": results[0]}
        return {"results": [{"masks": masks} for masks in results]}

    @app.post("/summarize", dependencies=[Depends(served("summarize"))])
    async def summarize(request: SummarizeRequest) -> dict[str, Any]:
        """The document's most representative sentences, in document order."""
        check_text(request.text, settings.max_document_chars, "text")
        item = (request.text, request.num_sentences, request.ratio, request.method)
        return (await infer("summarize", [item], mergeable=False))[0]

    return app


def _qa_items(payload: Any) -> list[QAItem]:
    """Validate a /qa body (one object or a list of them) with error fields named plainly."""
    if not isinstance(payload, (dict, list)):
        raise InputError(
            'the /qa body must be a JSON object {"question", "context"} or a list of them'
        )
    try:
        if isinstance(payload, dict):
            return [QAItem.model_validate(payload)]
        return QA_LIST.validate_python(payload)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None


QA_LIST = TypeAdapter(list[QAItem])


# ---- errors ------------------------------------------------------------------------------


def error_response(status: int, kind: str, message: str, **extra) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"type": kind, "message": message, **extra}}
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_describe(problem) for problem in error.errors()]
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            detail = next(p for p in error.errors() if p["type"] == "json_invalid")
            return error_response(
                400,
                "invalid_json",
                f"the request body is not valid JSON ({detail.get('ctx', {}).get('error', '')})",
            )
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return error_response(422, "invalid_request", message, problems=problems)

    @app.exception_handler(EndpointUnavailable)
    async def unavailable(request: Request, error: EndpointUnavailable) -> JSONResponse:
        kind = "not_implemented" if error.status_code == 501 else "wrong_task"
        return error_response(error.status_code, kind, str(error))

    @app.exception_handler(ServerBusy)
    async def busy(request: Request, error: ServerBusy) -> JSONResponse:
        response = error_response(503, "busy", str(error))
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(ServerStopping)
    async def stopping(request: Request, error: ServerStopping) -> JSONResponse:
        return error_response(503, "stopping", str(error))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, error: InputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(error))

    @app.exception_handler(BertkitError)
    async def bertkit_error(request: Request, error: BertkitError) -> JSONResponse:
        return error_response(400, "bad_request", str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        message = str(error.detail)
        if error.status_code == 404:
            message = f"no endpoint {request.url.path}; see GET /info for this server's endpoints"
        elif error.status_code == 400:
            # FastAPI's answer to a body json.loads cannot even decode (not UTF-8, mostly);
            # the body is not read again here: its stream may already be closed.
            kind = "invalid_json"
            message = (
                "the request body could not be parsed as JSON (bytes that are not UTF-8, or "
                "nesting too deep); send UTF-8 encoded JSON"
            )
        return error_response(error.status_code, kind, message)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(
            500, "internal_error", f"the server failed on this request ({type(error).__name__})"
        )


def _describe(problem: dict[str, Any]) -> dict[str, str]:
    """A pydantic error as {field, problem}, the field written like `texts[2]`."""
    parts = [part for part in problem.get("loc", ()) if part != "body"]
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    message = problem.get("msg", "invalid")
    if problem.get("type") == "extra_forbidden":
        message = "unknown field (check its spelling)"
    if problem.get("type") == "model_attributes_type" and not field:
        message = "the body must be a JSON object sent with Content-Type: application/json"
    return {"field": field or "body", "problem": message, "type": problem.get("type", "")}


# ---- request size --------------------------------------------------------------------------


class BodySizeLimit:
    """Answer 413 to a request whose body exceeds `max_bytes`, before reading it all."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        received = 0
        too_large = False

        async def limited_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def tracking_send(message):
            nonlocal started
            if too_large:
                return  # the 413 below replaces whatever the app answered
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if too_large and not started:
            await self._reject(send)

    async def _reject(self, send) -> None:
        body = json.dumps(
            {
                "error": {
                    "type": "body_too_large",
                    "message": f"the request body exceeds {self.max_bytes} bytes"
                    " (--max-body-bytes)",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
