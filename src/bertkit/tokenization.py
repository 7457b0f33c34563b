"""BERT's WordPiece tokenizer on the `tokenizers` library.

Loads a tokenizer.json (honouring do_lower_case and strip_accents from tokenizer_config.json,
as Hugging Face does) or builds the standard BERT pipeline from a vocab.txt: BERT normaliser
(clean control characters, split Chinese characters, strip accents, lowercase), BERT
pre-tokeniser, WordPiece with `##` continuations, and the `[CLS] A [SEP] B [SEP]` template.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer

from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_file

SPECIAL_TOKENS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


class Encoding(dict):
    """Token ids and their companions, one list (or tensor row) per encoded sequence.

    Keys: input_ids, token_type_ids, attention_mask, and on request offset_mapping
    (character spans in the original text; (0, 0) for special tokens), special_tokens_mask,
    overflow_to_sample_mapping (which input each window came from), word_ids and
    sequence_ids (0 first text, 1 second text, None special tokens).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Tokenizer:
    """A BERT WordPiece tokenizer with Hugging Face compatible encoding."""

    def __init__(self, backend: RustTokenizer, model_max_length: int = 512, do_lower_case=True):
        backend.no_truncation()
        backend.no_padding()
        self.backend = backend
        self.model_max_length = model_max_length
        self.do_lower_case = do_lower_case
        self._lock = threading.Lock()  # truncation/padding are set on the shared backend
        vocab = backend.get_vocab()
        missing = [token for token in SPECIAL_TOKENS.values() if token not in vocab]
        if missing:
            raise InputError(
                f"the vocabulary lacks BERT's special token(s) {', '.join(missing)}; "
                "train or choose a vocabulary that has [PAD] [UNK] [CLS] [SEP] [MASK]"
            )
        self.pad_token_id = vocab["[PAD]"]
        self.unk_token_id = vocab["[UNK]"]
        self.cls_token_id = vocab["[CLS]"]
        self.sep_token_id = vocab["[SEP]"]
        self.mask_token_id = vocab["[MASK]"]
        self.mask_token = "[MASK]"
        self.special_token_ids = {vocab[token] for token in SPECIAL_TOKENS.values()}

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> Tokenizer:
        """Load from a model folder: tokenizer.json if present, else vocab.txt."""
        folder = Path(folder)
        settings = _read_tokenizer_config(folder)
        lowercase = bool(settings.get("do_lower_case", True))
        max_length = settings.get("model_max_length", 512)
        if not isinstance(max_length, int) or max_length > 1_000_000:
            max_length = 512  # Hugging Face writes a huge sentinel when no limit was set
        if (folder / "tokenizer.json").is_file():
            try:
                backend = RustTokenizer.from_file(str(folder / "tokenizer.json"))
            except Exception as error:  # noqa: BLE001 - the Rust side raises plain Exception
                raise InputError(
                    f"{folder / 'tokenizer.json'} is not a valid tokenizer: {error}"
                ) from None
            lowercase = _apply_normaliser_settings(backend, settings)
            return cls(backend, max_length, lowercase)
        if (folder / "vocab.txt").is_file():
            return cls.from_vocab(
                folder / "vocab.txt",
                lowercase=lowercase,
                strip_accents=settings.get("strip_accents"),
                tokenize_chinese_chars=settings.get("tokenize_chinese_chars", True),
                model_max_length=max_length,
            )
        raise InputError(f"{folder} holds no tokenizer: expected tokenizer.json or vocab.txt")

    @classmethod
    def from_vocab(
        cls,
        vocab_file: str | os.PathLike,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        model_max_length: int = 512,
    ) -> Tokenizer:
        """Build BERT's tokenizer from a vocab.txt (one token per line, id = line number)."""
        vocab_file = Path(vocab_file)
        if not vocab_file.is_file():
            raise InputError(f"vocabulary file {vocab_file} not found")
        try:
            lines = vocab_file.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError:
            raise InputError(
                f"{vocab_file} is not UTF-8 text; expected one token per line"
            ) from None
        if lines and lines[-1] == "":
            lines.pop()
        vocab = {token: index for index, token in enumerate(lines)}
        if not vocab:
            raise InputError(f"vocabulary file {vocab_file} is empty")
        return cls(
            build_backend(vocab, lowercase, strip_accents, tokenize_chinese_chars),
            model_max_length,
            lowercase,
        )

    # ---- vocabulary -----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.backend.id_to_token(int(i)) or "[UNK]" for i in ids]

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def tokenize(self, text: str, text_pair: str | None = None) -> list[str]:
        """The WordPiece tokens of a text (without special tokens)."""
        encoding = self.backend.encode(text, text_pair, add_special_tokens=False)
        return encoding.tokens

    # ---- encoding -------------------------------------------------------------------------

    def __call__(
        self,
        texts: str | list[str],
        text_pairs: str | list[str] | None = None,
        *,
        max_length: int | None = None,
        truncation: bool | str = False,
        padding: bool | str = False,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
        return_word_ids: bool = False,
        return_sequence_ids: bool = False,
        pad_to_multiple_of: int | None = None,
        add_special_tokens: bool = True,
        return_tensors: str | None = None,
    ) -> Encoding:
        """Encode one text or a batch (optionally paired), like Hugging Face's fast tokenizers.

        truncation: False, True / "longest_first", "only_first" or "only_second"; it needs
        `max_length` (default: model_max_length). padding: False, True / "longest" or
        "max_length". With return_overflowing_tokens, text that truncation would drop comes
        back as further windows that overlap by `stride` tokens.
        """
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        pairs = None
        if text_pairs is not None:
            pairs = [text_pairs] if isinstance(text_pairs, str) else list(text_pairs)
            if len(pairs) != len(batch):
                raise InputError(f"got {len(batch)} texts but {len(pairs)} text pairs")
        for value in batch + (pairs or []):
            if not isinstance(value, str):
                raise InputError(f"texts must be strings, got {type(value).__name__}")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800"
                    raise InputError(
                        f"text holds an invalid character (unpaired surrogate "
                        f"U+{ord(value[error.start]):04X} at position {error.start}); send "
                        "well-formed Unicode text"
                    ) from None
        strategy = _truncation_strategy(truncation)
        if strategy and max_length is None:
            max_length = self.model_max_length
        inputs = list(zip(batch, pairs, strict=True)) if pairs is not None else batch
        with self._lock:
            try:
                self._configure(strategy, max_length, stride, padding, pad_to_multiple_of)
                encodings = self.backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
            except InputError:
                raise
            except Exception as error:  # noqa: BLE001 - e.g. a stride too large for max_length
                message = " ".join(str(error).split()).rstrip(",")
                raise InputError(f"could not encode the text: {message}") from None
            finally:
                self.backend.no_truncation()
                self.backend.no_padding()
        rows, sample_mapping = [], []
        for index, encoding in enumerate(encodings):
            windows = [encoding] + (list(encoding.overflowing) if return_overflowing_tokens else [])
            rows.extend(windows)
            sample_mapping.extend([index] * len(windows))
        result = Encoding(
            input_ids=[row.ids for row in rows],
            token_type_ids=[row.type_ids for row in rows],
            attention_mask=[row.attention_mask for row in rows],
        )
        if return_offsets_mapping:
            result["offset_mapping"] = [row.offsets for row in rows]
        if return_special_tokens_mask:
            result["special_tokens_mask"] = [row.special_tokens_mask for row in rows]
        if return_word_ids:
            result["word_ids"] = [row.word_ids for row in rows]
        if return_sequence_ids:
            result["sequence_ids"] = [row.sequence_ids for row in rows]
        if return_overflowing_tokens:
            result["overflow_to_sample_mapping"] = sample_mapping
        if return_tensors is not None:
            return _as_tensors(result, return_tensors)
        if single and not return_overflowing_tokens:
            return Encoding({key: value[0] for key, value in result.items()})
        return result

    def _configure(self, strategy, max_length, stride, padding, pad_to_multiple_of) -> None:
        if strategy:
            self.backend.enable_truncation(max_length, stride=stride, strategy=strategy)
        if padding in (True, "longest", "max_length"):
            if padding == "max_length" and max_length is None:
                raise InputError("padding='max_length' needs max_length")
            self.backend.enable_padding(
                pad_id=self.pad_token_id,
                pad_token="[PAD]",
                length=max_length if padding == "max_length" else None,
                pad_to_multiple_of=pad_to_multiple_of,
            )
        elif padding not in (False, None, "do_not_pad"):
            raise InputError(
                f"padding must be False, True, 'longest' or 'max_length', got {padding!r}"
            )

    # ---- saving ---------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> None:
        """Write tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write_file(folder / "tokenizer.json", encoding="utf-8") as handle:
            handle.write(self.backend.to_str(pretty=True))
        vocab = sorted(self.get_vocab().items(), key=lambda item: item[1])
        with atomic_write_file(folder / "vocab.txt", encoding="utf-8") as handle:
            handle.writelines(f"{token}\n" for token, _ in vocab)
        settings = {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": self.do_lower_case,
            "model_max_length": self.model_max_length,
            **SPECIAL_TOKENS,
        }
        normaliser = json.loads(self.backend.to_str()).get("normalizer") or {}
        if normaliser.get("type") == "BertNormalizer":
            settings["strip_accents"] = normaliser.get("strip_accents")
            settings["tokenize_chinese_chars"] = normaliser.get("handle_chinese_chars", True)
        for name, data in (
            ("tokenizer_config.json", settings),
            ("special_tokens_map.json", SPECIAL_TOKENS),
        ):
            with atomic_write_file(folder / name, encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)


def build_backend(
    vocab: dict[str, int],
    lowercase: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
) -> RustTokenizer:
    """The standard BERT pipeline around a WordPiece vocabulary."""
    backend = RustTokenizer(
        models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    )
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=tokenize_chinese_chars,
        strip_accents=strip_accents,
        lowercase=lowercase,
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    present = [token for token in SPECIAL_TOKENS.values() if token in vocab]
    backend.add_special_tokens(
        [AddedToken(token, normalized=False, special=True) for token in present]
    )
    if "[CLS]" in vocab and "[SEP]" in vocab:
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
        )
    return backend


def _read_tokenizer_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None
    return settings if isinstance(settings, dict) else {}


def _apply_normaliser_settings(backend: RustTokenizer, settings: dict[str, Any]) -> bool:
    """Make tokenizer.json's BERT normaliser follow tokenizer_config.json; return lowercase.

    As in transformers' BertTokenizerFast, the config's do_lower_case (default True),
    strip_accents (default None: follow lowercase) and tokenize_chinese_chars (default True)
    win over what tokenizer.json says; a normaliser of another type is kept as it is.
    """
    normaliser = json.loads(backend.to_str()).get("normalizer") or {}
    if normaliser.get("type") != "BertNormalizer":
        return bool(settings.get("do_lower_case", True))
    wanted = {
        "lowercase": bool(settings.get("do_lower_case", True)),
        "strip_accents": settings.get("strip_accents"),
        "handle_chinese_chars": bool(settings.get("tokenize_chinese_chars", True)),
    }
    if any(normaliser.get(key) != value for key, value in wanted.items()):
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=normaliser.get("clean_text", True), **wanted
        )
    return wanted["lowercase"]


def _truncation_strategy(truncation: bool | str) -> str | None:
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return None
    if truncation is True:
        return "longest_first"
    if truncation not in TRUNCATION_STRATEGIES:
        raise InputError(
            f"truncation must be True, False or one of {', '.join(TRUNCATION_STRATEGIES)}, "
            f"got {truncation!r}"
        )
    return truncation


def _as_tensors(result: Encoding, kind: str) -> Encoding:
    lengths = {len(row) for row in result["input_ids"]}
    if len(lengths) > 1:
        raise InputError("sequences have different lengths: pass padding=True to get tensors")
    converted = Encoding()
    for key, value in result.items():
        if key in ("word_ids", "sequence_ids"):  # hold None for special tokens: stay lists
            converted[key] = value
            continue
        array = np.asarray(value, dtype=np.int64)
        converted[key] = torch.from_numpy(array) if kind == "pt" else array
    return converted
