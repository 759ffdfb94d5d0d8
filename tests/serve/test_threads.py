"""Server behaviour that latency depends on: a request computes on one thread (no FAISS or
torch pool per request thread), a text encoder is loaded once even when the first queries
arrive together, and the objects loaded at start-up are frozen out of the garbage collector."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import faiss
import torch
from fastapi.testclient import TestClient

from fusionrec.serve.app import THREADS_PER_REQUEST, create_app
from fusionrec.serve.recommender import load_bundle


def thread_counts() -> dict[str, int]:
    """The OpenMP pool sizes torch and FAISS would use in the calling thread."""
    return {"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()}


def test_every_request_computes_on_one_thread(bundle, monkeypatch):
    app = create_app(bundle)
    rec = app.state.recommender
    seen: list[tuple[str, dict[str, int]]] = []

    def spy(name: str):
        method = getattr(rec, name)

        def wrapped(*args, **kwargs):
            seen.append((name, thread_counts()))
            return method(*args, **kwargs)

        return wrapped

    for name in ("user_top", "similar_top", "preference_top", "search_top", "sentiment"):
        monkeypatch.setattr(rec, name, spy(name))
    with TestClient(app) as client:
        assert client.get("/users/u0/recommendations").status_code == 200
        assert client.get("/items/i3/similar").status_code == 200
        assert client.post("/recommendations", json={"text": "robots"}).status_code == 200
        assert client.get("/search", params={"q": "robots in space"}).status_code == 200
        assert client.post("/sentiment", json={"text": "loved it"}).status_code == 200
    assert [name for name, _ in seen] == [
        "user_top", "similar_top", "preference_top", "search_top", "sentiment"
    ]  # fmt: skip
    for name, counts in seen:
        assert set(counts.values()) == {THREADS_PER_REQUEST}, (name, counts)


def test_text_encoders_load_once_under_concurrent_first_queries(bundle, monkeypatch):
    import sentence_transformers

    real = sentence_transformers.SentenceTransformer
    loads: list[int] = []

    def counting(*args, **kwargs):
        loads.append(threading.get_ident())
        time.sleep(0.3)  # a slow load: every concurrent first query would start its own
        return real(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", counting)
    rec = load_bundle(bundle)
    with ThreadPoolExecutor(6) as pool:
        hits = list(pool.map(lambda q: rec.search_top(q, "text", 5), ["robots in space"] * 6))
    assert len(loads) == 1 and all((h[0] == hits[0][0]).all() for h in hits)
    loads.clear()
    with ThreadPoolExecutor(6) as pool:
        vectors = list(pool.map(lambda t: rec.embed_text([t]), ["a love story"] * 6))
    assert len(loads) == 1 and all((v == vectors[0]).all() for v in vectors)


def test_start_up_objects_are_frozen_out_of_the_garbage_collector(bundle):
    gc.unfreeze()
    create_app(bundle)
    walked = len(gc.get_objects())  # what a full collection would walk now
    assert gc.get_freeze_count() > 10 * walked  # the bundle, torch, pandas: frozen
