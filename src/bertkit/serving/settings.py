"""Limits and runtime options of the HTTP server, one field per `bertkit serve` flag."""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.errors import InputError


@dataclass
class ServerSettings:
    """What the server accepts and how it runs the model."""

    max_texts: int = 64  # texts (or QA pairs) per request
    max_text_chars: int = 20_000  # characters per text of /embed, /classify, /ner, /fill-mask
    max_document_chars: int = 200_000  # characters per /summarize document or /qa context
    max_body_bytes: int = 10_000_000  # request bodies larger than this get 413
    max_top_k: int = 50  # largest `top_k` of /fill-mask
    truncate: bool = True  # cut texts longer than the model's limit (False: reject them, 422)
    max_length: int | None = None  # tokens per text for embed/classify (default: the model's)
    batch_size: int = 32  # rows per forward pass
    max_batch_texts: int = 128  # texts that concurrent requests may share in one model call
    max_wait_ms: float = 0.0  # extra wait for concurrent requests to join a batch
    max_queue: int = 256  # requests waiting for the model; more get 503
    pooling: str = "mean"  # sentence-embedding pooling: "mean" or "cls"
    precision: str = "fp32"  # "fp32", "bf16" or "auto" (bf16 where it is fast)
    device: str | None = None  # "cpu", "cuda", ...; default: CUDA if available
    threads: int | None = None  # torch intra-op threads (default: torch's choice)

    def __post_init__(self) -> None:
        for name in (
            "max_texts",
            "max_text_chars",
            "max_document_chars",
            "max_body_bytes",
            "max_top_k",
            "batch_size",
            "max_batch_texts",
            "max_queue",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"server setting {name} must be a positive integer, got {value!r}")
        if self.max_length is not None and self.max_length < 2:
            raise InputError(f"max_length must be at least 2 tokens, got {self.max_length}")
        if self.max_wait_ms < 0:
            raise InputError(f"max_wait_ms must not be negative, got {self.max_wait_ms}")
        if self.pooling not in ("mean", "cls"):
            raise InputError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise InputError(f"precision must be 'fp32', 'bf16' or 'auto', got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be at least 1, got {self.threads}")
