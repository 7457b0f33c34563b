"""Sequence-to-sequence generation (translation, abstractive summarization) with BERT2BERT.

An encoder-decoder whose encoder and decoder both start from one pretrained BERT checkpoint
(Rothe, Narayan & Severyn, 2020), saved in the format of Hugging Face's EncoderDecoderModel.
"""

from bertkit.seq2seq.checkpoint import from_pretrained_bert, load_seq2seq, save_seq2seq
from bertkit.seq2seq.generate import GenerationOptions, generate
from bertkit.seq2seq.model import EncoderDecoder, Seq2SeqConfig

__all__ = [
    "EncoderDecoder",
    "GenerationOptions",
    "Seq2SeqConfig",
    "from_pretrained_bert",
    "generate",
    "load_seq2seq",
    "save_seq2seq",
]
