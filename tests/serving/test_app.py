"""The HTTP app in-process (FastAPI TestClient): every endpoint against the Python API it
wraps, and every expected mistake answered with a 4xx JSON error naming the problem."""

from __future__ import annotations

import asyncio
import sys

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from bertkit.embeddings import SentenceEncoder
from bertkit.serving import ServerSettings, create_app

DOCUMENT = (
    "Alice lives in paris with a cat. Bob was in london for a good film. The cat sat on the "
    "mat all day. The dog was bad at the film. Alice and bob sat in paris on a mat."
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clients(serve_folders):
    """task -> TestClient of a running app (lifespan entered), built lazily and shared."""
    opened: dict[str, TestClient] = {}

    def get(task: str, **settings) -> TestClient:
        key = task + repr(sorted(settings.items()))
        if key not in opened:
            app = create_app(serve_folders[task], settings=ServerSettings(**settings))
            opened[key] = TestClient(app, raise_server_exceptions=False).__enter__()
        return opened[key]

    yield get
    for client in opened.values():
        client.__exit__(None, None, None)


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]["message"]


# ---- endpoints ---------------------------------------------------------------------------


def test_health_and_info(clients, serve_folders):
    client = clients("classify")
    assert client.get("/health").json() == {"status": "ok", "task": "classify"}
    info = client.get("/info").json()
    assert info["task"] == "classify"
    assert info["labels"] == ["negative", "positive"]
    assert info["max_length"] == 48
    assert info["endpoints"] == {"classify": "ok"}
    assert info["model"] == str(serve_folders["classify"])


def test_embed_matches_sentence_encoder(clients, serve_folders):
    texts = ["the cat sat on the mat", "alice", "bob lives in london, the film was good"]
    response = clients("embed").post("/embed", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = SentenceEncoder.from_pretrained(serve_folders["embed"]).encode(texts)
    assert body["dimension"] == 32
    np.testing.assert_allclose(np.array(body["embeddings"]), expected, atol=1e-5)
    normalized = clients("embed").post("/embed", json={"texts": texts, "normalize": True}).json()
    norms = np.linalg.norm(np.array(normalized["embeddings"]), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_classify_matches_text_classifier(clients, serve_folders):
    from bertkit.tasks.classification import TextClassifier

    texts, pairs = ["a good film", "bad", "the dog sat on the mat"], ["yes", "no", "the cat"]
    classifier = TextClassifier.from_pretrained(serve_folders["classify"])
    client = clients("classify")
    single = client.post("/classify", json={"texts": texts, "all_scores": True}).json()
    assert single["predictions"] == classifier.predict(texts, all_scores=True)
    for prediction in single["predictions"]:
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    paired = client.post("/classify", json={"texts": texts, "text_pairs": pairs}).json()
    assert paired["predictions"] == classifier.predict(texts, pairs)


def test_ner_matches_entity_tagger_with_offsets(clients, serve_folders):
    from bertkit.tasks.ner import EntityTagger

    texts = ["Alice lives in Paris.", "Bob was in London, said Alice!"]
    body = clients("ner").post("/ner", json={"texts": texts}).json()
    tagger = EntityTagger.from_pretrained(serve_folders["ner"])
    expected = [[entity.to_dict() for entity in found] for found in tagger.predict(texts)]
    assert body["entities"] == expected
    assert any(body["entities"])  # the random tagger finds something, so offsets are checked
    for text, entities in zip(texts, body["entities"], strict=True):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def test_qa_single_and_list(clients, serve_folders):
    from bertkit.tasks.qa.predict import QuestionAnswerer

    question, context = "where does alice live?", "Alice lives in Paris. Bob lives in London."
    client = clients("qa")
    single = client.post("/qa", json={"question": question, "context": context})
    assert single.status_code == 200, single.text
    expected = QuestionAnswerer.from_pretrained(serve_folders["qa"], device="cpu")
    assert single.json() == expected.predict(question, context).to_dict()
    answer = single.json()
    assert context[answer["start"] : answer["end"]] == answer["answer"]
    items = [
        {"question": question, "context": context},
        {"question": "who?", "context": "Bob was in London.", "n_best": True},
    ]
    many = client.post("/qa", json=items).json()
    assert isinstance(many, list) and len(many) == 2
    assert many[0] == answer
    assert "n_best" in many[1] and "n_best" not in many[0]


def test_fill_mask_matches_library(clients, serve_folders):
    from bertkit.fill_mask import fill_mask, load_fill_mask_model

    model, tokenizer = load_fill_mask_model(serve_folders["fill-mask"])
    client = clients("fill-mask")
    text = "the cat [MASK] on the [MASK]"
    body = client.post("/fill-mask", json={"text": text, "top_k": 3}).json()
    expected = fill_mask(model, tokenizer, [text], top_k=3)[0]
    assert len(body["masks"]) == 2 and all(len(fillers) == 3 for fillers in body["masks"])
    for got, want in zip(body["masks"], expected, strict=True):
        assert [filler["token_id"] for filler in got] == [filler.token_id for filler in want]
        probabilities = [filler["probability"] for filler in got]
        assert probabilities == sorted(probabilities, reverse=True)
        np.testing.assert_allclose(probabilities, [f.probability for f in want], atol=1e-5)
    batch = client.post("/fill-mask", json={"texts": [text, "a [MASK] dog"], "top_k": 2}).json()
    assert [len(result["masks"]) for result in batch["results"]] == [2, 1]
    assert batch["results"][0]["masks"][0][0]["token_id"] == body["masks"][0][0]["token_id"]


def test_summarize_with_plain_encoder_and_supervised_model(clients, serve_folders):
    body = clients("embed").post("/summarize", json={"text": DOCUMENT, "num_sentences": 2})
    assert body.status_code == 200, body.text
    summary = body.json()
    assert summary["method"] == "centrality" and len(summary["sentences"]) == 2
    for sentence in summary["sentences"]:
        assert DOCUMENT[sentence["start"] : sentence["end"]] == sentence["text"]
    by_ratio = clients("embed").post("/summarize", json={"text": DOCUMENT, "ratio": 0.2}).json()
    assert len(by_ratio["sentences"]) == 1
    lead = clients("embed").post("/summarize", json={"text": DOCUMENT, "method": "lead"}).json()
    assert lead["sentences"][0]["index"] == 0
    if serve_folders["summarize"] is None:
        pytest.skip("bertkit.tasks.summarization.supervised is not importable")
    client = clients("summarize")
    supervised = client.post("/summarize", json={"text": DOCUMENT, "num_sentences": 2}).json()
    assert supervised["method"] == "supervised" and len(supervised["sentences"]) == 2
    assert client.post("/embed", json={"texts": ["the cat"]}).status_code == 200


def test_concurrent_requests_share_model_calls_and_keep_their_results(serve_folders):
    """16 requests at once through the ASGI app: each gets its own texts' vectors, and the
    micro-batcher needed fewer model calls than requests."""
    app = create_app(serve_folders["embed"], settings=ServerSettings(max_wait_ms=50))
    texts = [f"the cat {'sat ' * (index % 5)}on mat {index}" for index in range(16)]
    expected = SentenceEncoder.from_pretrained(serve_folders["embed"]).encode(texts)

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await asyncio.gather(
                    *(client.post("/embed", json={"texts": [text]}) for text in texts)
                )

    responses = asyncio.run(main())
    vectors = np.array([response.json()["embeddings"][0] for response in responses])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert app.state.batcher.jobs == 16
    assert app.state.batcher.calls < 16


# ---- errors ------------------------------------------------------------------------------


def test_bad_json_is_400(clients):
    response = clients("embed").post(
        "/embed", content=b'{"texts": [', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in error_of(response, 400)


def test_body_that_is_not_utf8_is_400_naming_the_encoding(clients):
    response = clients("embed").post(
        "/embed", content=b'{"texts": ["caf\xe9"]}', headers={"content-type": "application/json"}
    )
    assert "UTF-8" in error_of(response, 400)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "texts: Field required"),
        ({"text": ["a"]}, "text: unknown field"),
        ({"texts": "the cat"}, "texts: Input should be a valid list"),
        ({"texts": ["the cat", 3]}, "texts[1]: Input should be a valid string"),
        ({"texts": ["a"], "normalize": "yes"}, "normalize: Input should be a valid boolean"),
        ([1, 2], "the body must be a JSON object"),
    ],
)
def test_schema_violations_are_422_naming_the_field(clients, body, named):
    assert named in error_of(clients("embed").post("/embed", json=body), 422)


def test_non_json_content_type_is_422(clients):
    response = clients("embed").post(
        "/embed", content=b"texts=a", headers={"content-type": "text/plain"}
    )
    assert "JSON object" in error_of(response, 422)


def test_empty_texts_and_limits(clients):
    client = clients("embed", max_texts=3, max_text_chars=30)
    assert "is empty: send at least one" in error_of(client.post("/embed", json={"texts": []}), 422)
    message = error_of(client.post("/embed", json={"texts": ["a", "  \n"]}), 422)
    assert "texts[1]" in message and "empty" in message
    message = error_of(client.post("/embed", json={"texts": ["a"] * 4}), 422)
    assert "4 items" in message and "at most 3" in message
    message = error_of(client.post("/embed", json={"texts": ["a", "b" * 31]}), 422)
    assert "texts[1]" in message and "31 characters" in message


def test_over_long_text_truncated_by_default_rejected_when_truncation_off(clients):
    long_text = "the cat sat on the mat " * 20  # ~120 tokens, the model takes 48
    assert clients("embed").post("/embed", json={"texts": [long_text]}).status_code == 200
    off = {"texts": ["a", long_text], "truncate": False}
    message = error_of(clients("embed").post("/embed", json=off), 422)
    assert "texts[1]" in message and "at most 48" in message
    strict = clients("classify", truncate=False)
    message = error_of(strict.post("/classify", json={"texts": [long_text]}), 422)
    assert "truncation is off" in message
    ok = strict.post("/classify", json={"texts": [long_text], "truncate": True})
    assert ok.status_code == 200
    message = error_of(
        clients("fill-mask").post(
            "/fill-mask", json={"text": long_text + " [MASK]", "truncate": False}
        ),
        422,
    )
    assert "at most 48" in message


def test_task_specific_input_errors(clients):
    classify = clients("classify")
    message = error_of(
        classify.post("/classify", json={"texts": ["a", "b"], "text_pairs": ["c"]}), 422
    )
    assert "text_pairs" in message and "1 items" in message
    fill = clients("fill-mask")
    assert "no [MASK]" in error_of(fill.post("/fill-mask", json={"text": "the cat sat"}), 422)
    assert "at most 50" in error_of(
        fill.post("/fill-mask", json={"text": "[MASK]", "top_k": 51}), 422
    )
    assert "top_k" in error_of(fill.post("/fill-mask", json={"text": "[MASK]", "top_k": 0}), 422)
    both = {"text": "a [MASK]", "texts": ["b [MASK]"]}
    assert "exactly one of" in error_of(fill.post("/fill-mask", json=both), 422)
    qa = clients("qa")
    assert "context: Field required" in error_of(qa.post("/qa", json={"question": "who?"}), 422)
    assert "[1].question" in error_of(
        qa.post("/qa", json=[{"question": "a", "context": "b"}, {"question": "", "context": "c"}]),
        422,
    )
    assert "empty" in error_of(qa.post("/qa", json=[]), 422)
    assert "JSON object" in error_of(qa.post("/qa", json="where?"), 422)
    summarize = clients("embed")
    both_lengths = {"text": DOCUMENT, "num_sentences": 2, "ratio": 0.5}
    assert "not both" in error_of(summarize.post("/summarize", json=both_lengths), 422)
    assert "method" in error_of(
        summarize.post("/summarize", json={"text": DOCUMENT, "method": "magic"}), 422
    )
    assert "ratio" in error_of(
        summarize.post("/summarize", json={"text": DOCUMENT, "ratio": 2}), 422
    )


def test_endpoint_of_another_task_is_400_and_unknown_paths_404(clients):
    message = error_of(clients("classify").post("/ner", json={"texts": ["a"]}), 400)
    assert "/ner" in message and "/classify" in message
    assert "/info" in error_of(clients("classify").post("/nothing", json={}), 404)
    assert clients("classify").get("/classify").status_code == 405


def test_body_over_the_limit_is_413(clients):
    client = clients("embed", max_body_bytes=200)
    message = error_of(client.post("/embed", json={"texts": ["a" * 300]}), 413)
    assert "200 bytes" in message
    assert client.post("/embed", json={"texts": ["a"]}).status_code == 200

    def chunks(size):  # no Content-Length: the limit is enforced while reading
        yield b'{"texts": ["'
        yield b"a" * size
        yield b'"]}'

    headers = {"content-type": "application/json"}
    assert error_of(client.post("/embed", content=chunks(300), headers=headers), 413)
    assert client.post("/embed", content=chunks(10), headers=headers).status_code == 200


def test_missing_task_module_disables_only_its_endpoint(serve_folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "bertkit.tasks.summarization", None)
    with TestClient(create_app(serve_folders["embed"])) as client:
        message = error_of(client.post("/summarize", json={"text": DOCUMENT}), 501)
        assert "could not be imported" in message
        assert client.post("/embed", json={"texts": ["a"]}).status_code == 200
        assert client.get("/info").json()["endpoints"]["embed"] == "ok"


def test_unexpected_failure_is_a_500_without_internals(serve_folders):
    app = create_app(serve_folders["embed"])

    def broken(options, texts):
        raise RuntimeError("secret internal state")

    app.state.engine.handlers["embed"] = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/embed", json={"texts": ["a"]})
        message = error_of(response, 500)
        assert "RuntimeError" in message and "secret" not in message
        assert client.get("/health").status_code == 200


def test_wrong_task_is_reported_before_the_body_is_validated(clients):
    message = error_of(clients("classify").post("/fill-mask", json={"texts": []}), 400)
    assert "/fill-mask" in message
