"""transformers is a test and benchmark dependency only: bertkit runs without it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import requires

# With transformers made unimportable, build the whole CLI (every command module), load a
# model and tokenizer, and embed a text.
SCRIPT = """
import sys
sys.modules["transformers"] = None  # any `import transformers` now raises ImportError
from bertkit.cli import build_parser
from bertkit import SentenceEncoder
build_parser()
vectors = SentenceEncoder.from_pretrained(sys.argv[1]).encode(["hello world"])
assert vectors.shape == (1, 32), vectors.shape
print("ok")
"""


def test_bertkit_runs_without_transformers(tiny_folder):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_transformers_is_not_a_runtime_requirement():
    """What pip installs for `pip install bertkit`: no transformers; it comes with [test]."""
    requirements = requires("bertkit") or []
    runtime = " ".join(r for r in requirements if "extra ==" not in r).lower()
    assert "transformers" not in runtime
    for name in ("torch", "tokenizers", "safetensors", "numpy"):
        assert name in runtime
    assert any("transformers" in r and 'extra == "test"' in r for r in requirements)
