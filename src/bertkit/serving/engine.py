"""The model behind the server: loaded once, with one handler per endpoint.

Handlers take plain items (texts, pairs, questions) and return JSON-ready results, one per
item; they run on the micro-batcher's single worker thread, never concurrently. Task APIs are
imported lazily: if an optional piece cannot be imported, only its endpoints are disabled
(501, with the import error), and the rest of the server works.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import torch

import bertkit
from bertkit.checkpoint import load_config
from bertkit.errors import BertkitError, InputError
from bertkit.hub import resolve_model
from bertkit.serving.model_task import ALL_ENDPOINTS, task_endpoints, task_of_folder
from bertkit.serving.settings import ServerSettings

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], list], list]


class EndpointUnavailable(BertkitError):
    """An endpoint this server cannot run: another task's (400) or a missing module's (501)."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.status_code = status_code


class ServingEngine:
    """A model folder loaded for one task, with a handler for each endpoint it serves."""

    def __init__(
        self,
        model: str | os.PathLike,
        task: str | None = None,
        settings: ServerSettings | None = None,
    ):
        self.settings = settings or ServerSettings()
        self.folder = resolve_model(model)
        self.config = load_config(self.folder)
        self.task = task or task_of_folder(self.folder)
        self.endpoints = task_endpoints(self.task)
        default_device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(self.settings.device or default_device)
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        self.labels: list[str] | None = None
        self.unavailable: dict[str, str] = {}  # endpoint -> why it cannot run
        self.handlers: dict[str, Handler] = {}
        for endpoint in self.endpoints:
            try:
                self.handlers[endpoint] = getattr(self, f"_load_{endpoint.replace('-', '_')}")()
            except ImportError as error:
                reason = f"{endpoint} needs a bertkit module that could not be imported: {error}"
                logger.warning("%s; the /%s endpoint is disabled", reason, endpoint)
                self.unavailable[endpoint] = reason
        logger.info(
            "serving %s as %s on %s: %s",
            self.folder,
            self.task,
            self.device,
            ", ".join(f"/{name}" for name in self.handlers) or "no endpoint",
        )

    # ---- dispatch --------------------------------------------------------------------------

    def check_endpoint(self, endpoint: str) -> None:
        """Raise EndpointUnavailable unless this server can run `endpoint`."""
        if endpoint in self.handlers:
            return
        if endpoint in self.unavailable:
            raise EndpointUnavailable(self.unavailable[endpoint], 501)
        served = ", ".join(f"/{name}" for name in self.handlers) or "none"
        raise EndpointUnavailable(
            f"this server runs {self.folder.name} for the {self.task} task, which has no "
            f"/{endpoint}; its endpoints: {served}. Start `bertkit serve` with a model for "
            f"{endpoint} (or --task {endpoint} if this model can do it)",
            400,
        )

    def run(self, key: tuple, items: list) -> list:
        """Batcher entry point: key = (endpoint, sorted option pairs)."""
        endpoint, options = key
        return self.handlers[endpoint](dict(options), items)

    def info(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "model": str(self.folder),
            "task": self.task,
            "endpoints": {
                name: "ok" if name in self.handlers else self.unavailable.get(name, "other task")
                for name in ALL_ENDPOINTS
                if name in self.endpoints
            },
            "labels": self.labels,
            "max_length": self.config.max_position_embeddings,
            "truncate": settings.truncate,
            "hidden_size": self.config.hidden_size,
            "vocab_size": self.config.vocab_size,
            "device": str(self.device),
            "precision": settings.precision,
            "limits": {
                "max_texts": settings.max_texts,
                "max_text_chars": settings.max_text_chars,
                "max_document_chars": settings.max_document_chars,
                "max_body_bytes": settings.max_body_bytes,
                "max_top_k": settings.max_top_k,
            },
            "bertkit_version": bertkit.__version__,
        }

    # ---- loaders: each returns the endpoint's handler ---------------------------------------

    def _load_embed(self) -> Handler:
        encoder = getattr(self, "_encoder", None)
        if encoder is None:
            from bertkit.embeddings import SentenceEncoder

            encoder = SentenceEncoder.from_pretrained(self.folder, pooling=self.settings.pooling)
            encoder.model.to(self.device)
            self._encoder = encoder

        def embed(options: dict[str, Any], texts: list[str]) -> list:
            if not options["truncate"]:
                self._check_lengths(encoder.tokenizer, texts, None)
            vectors = encoder.encode(
                texts,
                batch_size=self.settings.batch_size,
                max_length=self.settings.max_length,
                truncate=options["truncate"],
                normalize=options["normalize"],
                precision=self.settings.precision,
            )  # (N, H)
            return vectors.tolist()

        return embed

    def _load_summarize(self) -> Handler:
        summarization = importlib.import_module("bertkit.tasks.summarization")
        if self.task == "summarize":
            summarizer = summarization.Summarizer.from_pretrained(
                self.folder,
                device=str(self.device),
                batch_size=self.settings.batch_size,
                precision=self.settings.precision,
            )
            self._encoder = summarizer.encoder  # /embed shares the fine-tuned encoder
        else:
            self._load_embed()
            summarizer = summarization.Summarizer(
                self._encoder,
                batch_size=self.settings.batch_size,
                precision=self.settings.precision,
            )

        def summarize(options: dict[str, Any], requests: list) -> list:
            return [
                summarizer.summarize(text, num_sentences, ratio=ratio, method=method).to_dict()
                for text, num_sentences, ratio, method in requests
            ]

        return summarize

    def _load_classify(self) -> Handler:
        classification = importlib.import_module("bertkit.tasks.classification")
        classifier = classification.TextClassifier.from_pretrained(
            self.folder,
            device=self.device,
            precision=self.settings.precision,
            max_length=self.settings.max_length,
        )
        self.labels = list(classifier.labels)

        def classify(options: dict[str, Any], pairs: list) -> list:
            texts = [text for text, _ in pairs]
            text_pairs = [pair for _, pair in pairs] if options["pairs"] else None
            if not options["truncate"]:
                self._check_lengths(classifier.tokenizer, texts, text_pairs)
            return classifier.predict(
                texts,
                text_pairs,
                batch_size=self.settings.batch_size,
                all_scores=options["all_scores"],
            )

        return classify

    def _load_ner(self) -> Handler:
        ner = importlib.import_module("bertkit.tasks.ner")
        tagger = ner.EntityTagger.from_pretrained(
            self.folder,
            device=self.device,
            batch_size=self.settings.batch_size,
            precision=self.settings.precision,
        )
        self.labels = list(tagger.labels)

        def tag(options: dict[str, Any], texts: list[str]) -> list:
            return [[entity.to_dict() for entity in found] for found in tagger.predict(texts)]

        return tag

    def _load_qa(self) -> Handler:
        qa = importlib.import_module("bertkit.tasks.qa.predict")
        answerer = qa.QuestionAnswerer.from_pretrained(
            self.folder, device=self.device, precision=self.settings.precision
        )

        def answer(options: dict[str, Any], items: list) -> list:
            predictions = answerer.predict_batch(
                [question for question, _, _ in items],
                [context for _, context, _ in items],
                batch_size=self.settings.batch_size,
            )
            return [
                prediction.to_dict(with_n_best=n_best)
                for prediction, (_, _, n_best) in zip(predictions, items, strict=True)
            ]

        return answer

    def _load_fill_mask(self) -> Handler:
        fill_mask_module = importlib.import_module("bertkit.fill_mask")
        model, tokenizer = fill_mask_module.load_fill_mask_model(self.folder)
        model.to(self.device)

        def fill(options: dict[str, Any], texts: list[str]) -> list:
            if not options["truncate"]:
                self._check_lengths(tokenizer, texts, None)
            results = []
            step = self.settings.batch_size
            for start in range(0, len(texts), step):
                chunk = fill_mask_module.fill_mask(
                    model,
                    tokenizer,
                    texts[start : start + step],
                    top_k=options["top_k"],
                    precision=self.settings.precision,
                    truncate=True,  # over-long texts were refused above unless truncation is on
                )
                results.extend(
                    [[_filler_dict(filler) for filler in fillers] for fillers in masks]
                    for masks in chunk
                )
            return results

        return fill

    def _check_lengths(self, tokenizer, texts: list[str], text_pairs: list[str] | None) -> None:
        """With truncation off, refuse texts longer than the model's positions."""
        limit = self.config.max_position_embeddings
        encoded = tokenizer(texts, text_pairs)
        for index, ids in enumerate(encoded["input_ids"]):
            if len(ids) > limit:
                raise InputError(
                    f"texts[{index}] has {len(ids)} tokens but the model accepts at most {limit} "
                    'and truncation is off; shorten the text or send "truncate": true'
                )


def _filler_dict(filler) -> dict[str, Any]:
    return {
        "token": filler.token,
        "token_id": filler.token_id,
        "probability": round(filler.probability, 6),
        "sequence": filler.sequence,
    }
