"""Helpers shared by the CLI modules: reading text input, writing outputs, progress bars."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from bertkit.errors import InputError


def read_lines(source: str) -> list[str]:
    """Non-empty lines of a UTF-8 file, or of stdin when `source` is "-"."""
    if source == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"input file {source} not found")
        data = path.read_bytes()
        name = source
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{name} is not UTF-8 text (bad byte on line {line}); re-encode it as UTF-8") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise InputError(f"{name} holds no text")
    return lines


def progress_bar(total: int, description: str, enabled: bool = True) -> tqdm:
    return tqdm(total=total, desc=description, unit="text", disable=not enabled or total < 256,
                file=sys.stderr, leave=False)
