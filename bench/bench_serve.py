"""Serving and export throughput on real weights (all-MiniLM-L6-v2), beside HF transformers.

Part 1, HTTP: `bertkit serve minilm` runs as a subprocess twice, with micro-batching (default)
and with it off (--max-batch-texts 1: one model call per request). An async client keeps
--concurrency single-text POST /embed requests in flight until --requests are done; it prints
requests/s and latency percentiles. The reference is HF transformers embedding the same texts
in-process one text per forward pass, which is what a server without batching can at best
do (no HTTP, no JSON). The served vectors are checked against transformers' mean pooling.

Part 2, export: one batch of --batch-size texts through bertkit eager, its TorchScript and
ONNX (onnxruntime) exports and HF transformers eager; median ms per batch of --repeats runs.

    python bench/bench_serve.py --data ../shared/data/sentiment-rt/test.csv --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch


def read_texts(path: str, count: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [row["text"] for row, _ in zip(csv.DictReader(handle), range(count), strict=False)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: str, threads: int, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [
        sys.executable,
        "-m",
        "bertkit",
        "serve",
        model,
        "--port",
        str(port),
        "--threads",
        str(threads),
        *extra,
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import httpx

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}: {' '.join(command)}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("server did not start within 180 s")


async def load(base: str, texts: list[str], requests: int, concurrency: int):
    import httpx

    latencies: list[float] = []
    vectors: dict[int, list[float]] = {}
    counter = iter(range(requests))

    async def worker(client):
        for index in counter:
            text = texts[index % len(texts)]
            start = time.perf_counter()
            response = await client.post("/embed", json={"texts": [text]})
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
            vectors.setdefault(index % len(texts), response.json()["embeddings"][0])

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        await client.post("/embed", json={"texts": ["warm up"]})
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return requests / elapsed, latencies, vectors


def serve_run(model, texts, args, extra, label):
    process, base = start_server(model, args.threads, extra)
    try:
        rate, latencies, vectors = asyncio.run(load(base, texts, args.requests, args.concurrency))
    finally:
        process.terminate()
        process.wait(30)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{label:<40} {rate:8.1f} req/s   p50 {quantiles[49] * 1000:7.1f} ms   "
        f"p95 {quantiles[94] * 1000:7.1f} ms"
    )
    return rate, vectors


def hf_mean_pooled(hf_model, hf_tokenizer, texts):
    batch = hf_tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = hf_model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def median_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data", default="../shared/data/sentiment-rt/test.csv")
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import transformers

    from bertkit.embeddings import SentenceEncoder
    from bertkit.export import ExportedModel, export_model
    from bertkit.hub import resolve_model

    folder = str(resolve_model(args.model))
    texts = read_texts(args.data, max(args.requests, args.batch_size))
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    hf_model = transformers.AutoModel.from_pretrained(folder).eval()
    print(
        f"model {folder}, {args.threads} threads, {args.requests} requests of one text, "
        f"{args.concurrency} in flight"
    )

    print("\n== HTTP /embed ==")
    batched, vectors = serve_run(folder, texts, args, [], "bertkit serve (micro-batching)")
    unbatched, _ = serve_run(
        folder, texts, args, ["--max-batch-texts", "1"], "bertkit serve (--max-batch-texts 1)"
    )
    subset = texts[: min(len(texts), 64)]
    start = time.perf_counter()
    for text in subset:
        hf_mean_pooled(hf_model, hf_tokenizer, [text])
    hf_rate = len(subset) / (time.perf_counter() - start)
    print(f"{'transformers in-process, 1 text/forward':<40} {hf_rate:8.1f} texts/s")
    print(
        f"micro-batching speed-up: {batched / unbatched:.2f}x; "
        f"batched server / transformers one-at-a-time: {batched / hf_rate:.2f}x"
    )
    indices = sorted(vectors)[:32]
    served = np.array([vectors[i] for i in indices])
    reference = hf_mean_pooled(hf_model, hf_tokenizer, [texts[i] for i in indices])
    print(f"served vs transformers embeddings: max |diff| {np.abs(served - reference).max():.1e}")

    print(f"\n== one batch of {args.batch_size} texts, median of {args.repeats} ==")
    batch = texts[: args.batch_size]
    encoder = SentenceEncoder.from_pretrained(folder)
    results = {
        "bertkit eager (fp32)": median_ms(
            lambda: encoder.encode(batch, batch_size=args.batch_size), args.repeats
        ),
        "transformers eager (fp32)": median_ms(
            lambda: hf_mean_pooled(hf_model, hf_tokenizer, batch), args.repeats
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for export_format in ("torchscript", "onnx"):
            try:
                report = export_model(folder, f"{tmp}/{export_format}", export_format)
            except Exception as error:  # noqa: BLE001 - report and go on to the other format
                print(f"{export_format}: export failed: {error}")
                continue
            exported = ExportedModel(f"{tmp}/{export_format}", threads=args.threads)
            label = f"bertkit {export_format} export"
            results[label] = median_ms(lambda exported=exported: exported(batch), args.repeats)
            print(f"{label}: verified max |diff| vs eager {report.max_abs_diff:.1e}")
    reference_ms = results["transformers eager (fp32)"]
    for label, milliseconds in results.items():
        print(
            f"{label:<32} {milliseconds:8.1f} ms/batch   "
            f"transformers/this {reference_ms / milliseconds:5.2f}x"
        )


if __name__ == "__main__":
    main()
