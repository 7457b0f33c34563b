"""Helpers shared by the CLI modules: reading text input, writing outputs, progress bars."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from bertkit.errors import InputError
from bertkit.io_utils import read_text_input


def read_lines(source: str) -> list[str]:
    """Non-empty lines of a UTF-8 file, or of stdin when `source` is "-"."""
    return [line for _, line in read_numbered_lines(source)]


def read_numbered_lines(source: str) -> list[tuple[int, str]]:
    """(line number from 1, text) of each non-empty line of a UTF-8 file or of stdin ("-")."""
    text, name = read_text_input(source)
    lines = [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), start=1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    if not lines:
        raise InputError(f"{name} holds no text")
    return lines


def positive_int(value: str) -> int:
    """An argparse type for counts and sizes that must be at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def progress_bar(total: int, description: str, enabled: bool = True) -> tqdm:
    return tqdm(
        total=total,
        desc=description,
        unit="text",
        disable=not enabled or total < 256,
        file=sys.stderr,
        leave=False,
    )
