"""`bertkit serve` as a real process on 127.0.0.1: starts, answers, and stops when told."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from bertkit.cli import main

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_subprocess_health_request_and_shutdown(serve_folders):
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "bertkit",
        "serve",
        str(serve_folders["classify"]),
        "--port",
        str(port),
        "--threads",
        "1",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"server exited early:\n{process.stdout.read()}"
            assert time.monotonic() < deadline, "server did not answer /health in time"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        response = httpx.post(f"{base}/classify", json={"texts": ["a good film"]}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] in ("negative", "positive")
        bad = httpx.post(
            f"{base}/classify",
            content=b"{",
            timeout=30,
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400 and "JSON" in bad.json()["error"]["message"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"server did not stop within {STOP_TIMEOUT_S} s") from None
    output = process.stdout.read()
    assert f"on http://127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_serve_reports_bad_model_and_task_without_traceback(serve_folders, tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "neither a folder" in capsys.readouterr().err
    assert main(["serve", str(serve_folders["embed"]), "--task", "classify"]) == 2
    assert "no trained classification head" in capsys.readouterr().err
    assert main(["serve", str(serve_folders["embed"]), "--max-texts", "0"]) == 2
    assert "max_texts must be a positive integer" in capsys.readouterr().err


def test_serve_refuses_a_port_in_use(serve_folders, capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(serve_folders["embed"]), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
