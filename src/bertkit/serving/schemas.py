"""Request bodies of the JSON endpoints, validated by pydantic.

Types are strict (a number is not a text) and unknown fields are refused, so a typo such as
`{"text": ...}` for `{"texts": ...}` gets a 422 naming the field instead of being ignored.
Limits that depend on the server settings (texts per request, characters per text, top_k)
are checked by `check_texts` and friends when the request is handled.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bertkit.errors import InputError
from bertkit.serving.settings import ServerSettings


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class EmbedRequest(Request):
    texts: list[str] = Field(description="texts to embed, one vector each")
    normalize: bool = Field(False, description="L2-normalise the vectors")
    truncate: bool | None = Field(None, description="override the server's truncation setting")


class ClassifyRequest(Request):
    texts: list[str] = Field(description="texts to label")
    text_pairs: list[str] | None = Field(None, description="second texts of sentence pairs")
    all_scores: bool = Field(False, description="also return every label's probability")
    truncate: bool | None = Field(None, description="override the server's truncation setting")


class NerRequest(Request):
    texts: list[str] = Field(description="raw texts; entities carry character offsets into them")


class QAItem(Request):
    question: str
    context: str
    n_best: bool = Field(False, description="also return the runner-up answers")


class FillMaskRequest(Request):
    text: str | None = Field(None, description="one text with one or more [MASK] tokens")
    texts: list[str] | None = Field(None, description="several texts (instead of `text`)")
    top_k: int = Field(5, ge=1, description="candidates per mask")
    truncate: bool | None = Field(None, description="override the server's truncation setting")

    @model_validator(mode="after")
    def one_of_text_or_texts(self) -> FillMaskRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of `text` (a string) or `texts` (a list)")
        return self


class SummarizeRequest(Request):
    text: str = Field(description="the document to summarize")
    num_sentences: int | None = Field(None, ge=1, le=1000, description="sentences to keep")
    ratio: float | None = Field(None, gt=0.0, le=1.0, description="fraction of sentences to keep")
    method: str | None = Field(None, description="centrality, supervised or lead")

    @model_validator(mode="after")
    def not_both_lengths(self) -> SummarizeRequest:
        if self.num_sentences is not None and self.ratio is not None:
            raise ValueError("give `num_sentences` or `ratio`, not both")
        return self


def check_texts(texts: list[str], settings: ServerSettings, field: str = "texts") -> None:
    """Refuse an empty list, too many texts, empty texts and over-long texts, naming which."""
    if not texts:
        raise InputError(f"`{field}` is empty: send at least one text")
    if len(texts) > settings.max_texts:
        raise InputError(
            f"`{field}` has {len(texts)} items but this server accepts at most "
            f"{settings.max_texts} per request (--max-texts); split the request"
        )
    for index, text in enumerate(texts):
        check_text(text, settings.max_text_chars, f"{field}[{index}]")


def check_text(text: str, max_chars: int, field: str) -> None:
    if not text.strip():
        raise InputError(f"`{field}` is empty or only whitespace")
    if len(text) > max_chars:
        raise InputError(
            f"`{field}` has {len(text)} characters but this server accepts at most {max_chars} "
            "(--max-text-chars / --max-document-chars)"
        )


def check_qa_items(items: list[QAItem], settings: ServerSettings) -> None:
    if not items:
        raise InputError("the list of questions is empty: send at least one")
    if len(items) > settings.max_texts:
        raise InputError(
            f"{len(items)} questions but this server accepts at most {settings.max_texts} per "
            "request (--max-texts); split the request"
        )
    for index, item in enumerate(items):
        check_text(item.question, settings.max_text_chars, f"[{index}].question")
        check_text(item.context, settings.max_document_chars, f"[{index}].context")
