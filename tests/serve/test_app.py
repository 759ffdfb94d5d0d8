"""Every route through a real uvicorn server on 127.0.0.1: answers, validation, 404s, path
traversal, and concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from fusionrec.serve.recommender import load_bundle


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c


def space(item_id: str) -> bool:
    return int(item_id[1:]) < 20


def test_health_metadata_users(client, bundle):
    assert client.get("/health").json() == {"status": "ok"}
    meta = client.get("/metadata").json()
    assert meta["model"] == "mgcn" and meta["n_items"] == 40 and meta["n_users"] == 60
    assert meta["views"] == ["behaviour", "text", "image", "fused"]
    assert meta["search"] is True and meta["sentiment"] is True and meta["bundle_version"] == 2
    assert "recall@10" in meta["metrics"]
    page = client.get("/users", params={"limit": 5, "offset": 2}).json()
    assert page == {"user_ids": load_bundle(bundle).user_ids[2:7].tolist(), "total": 60}


def test_user_recommendations_with_because(client, bundle):
    body = client.get("/users/u0/recommendations", params={"k": 5}).json()
    assert body["user_id"] == "u0" and len(body["items"]) == 5
    expected = load_bundle(bundle).recommend("u0", k=5)
    assert [h["item_id"] for h in body["items"]] == expected["item_id"].tolist()
    seen = set(load_bundle(bundle).item_ids[load_bundle(bundle).train_matrix[0].indices])
    for hit in body["items"]:
        assert set(hit) == {"item_id", "score", "title", "image_url", "because"}
        assert 1 <= len(hit["because"]) <= 3
        assert {b["item_id"] for b in hit["because"]} <= seen  # the user's own liked items
        assert hit["title"].startswith("Star")  # u0 is an even user: space films
    unmasked = client.get("/users/u0/recommendations?k=40&exclude_seen=false").json()["items"]
    assert seen <= {h["item_id"] for h in unmasked}


def test_only_and_exclude_restrict_the_answer_over_http(client, bundle):
    """Repeated query parameters (GET) or body lists (POST); unknown ids are 404."""
    ranking = load_bundle(bundle).recommend("u0", k=40)["item_id"].tolist()
    only = ranking[5:15]
    got = client.get("/users/u0/recommendations", params={"k": 3, "only": only}).json()
    assert [h["item_id"] for h in got["items"]] == ranking[5:8]
    got = client.get("/users/u0/recommendations", params={"k": 3, "exclude": ranking[:2]})
    assert [h["item_id"] for h in got.json()["items"]] == ranking[2:5]
    body = {"liked_item_ids": ["i25"], "k": 4, "only": only, "exclude": only[:2]}
    items = client.post("/recommendations", json=body).json()["items"]
    assert len(items) == 4 and {h["item_id"] for h in items} <= set(only[2:])
    missing = client.get("/users/u0/recommendations", params={"only": ["i3", "nope"]})
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    missing = client.post("/recommendations", json={"text": "robots", "exclude": ["nope"]})
    assert missing.status_code == 404
    near = load_bundle(bundle).similar_items("i3", k=10, by="text")["item_id"].tolist()
    got = client.get("/items/i3/similar", params={"by": "text", "k": 2, "exclude": near[:1]})
    assert [h["item_id"] for h in got.json()["items"]] == near[1:3]


def test_anonymous_recommendations(client):
    liked = client.post("/recommendations", json={"liked_item_ids": ["i25", "i30"], "k": 5})
    items = liked.json()["items"]
    assert liked.status_code == 200 and len(items) == 5
    assert not any(space(h["item_id"]) for h in items)
    assert all({b["item_id"] for b in h["because"]} <= {"i25", "i30"} for h in items)
    repeated = client.post(
        "/recommendations", json={"liked_item_ids": ["i25", "i30", "i25"], "k": 5}
    ).json()["items"]
    assert repeated == items  # a liked item given twice counts once, and is listed once
    assert all(len(h["because"]) == 2 for h in repeated)
    text = client.post("/recommendations", json={"text": "a wedding in Paris, love", "k": 4})
    assert [space(h["item_id"]) for h in text.json()["items"]] == [False] * 4
    both = client.post(
        "/recommendations", json={"liked_item_ids": ["i1"], "text": "robots", "k": 3}
    )
    assert both.status_code == 200 and len(both.json()["items"]) == 3


def test_item_image_similar_search_sentiment(client):
    item = client.get("/items/i3").json()
    assert item["item_id"] == "i3" and item["title"] == "Star story 3"
    assert item["image_url"] == "/items/i3/image" and item["fields"]["year"] == 1983
    assert item["fields"]["studio"] is None  # missing: null, not the string "<NA>"
    assert client.get("/items/i4").json()["fields"]["studio"] == "Ghibli"
    image = client.get(item["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert client.get("/items/i7").json()["image_url"] is None
    assert client.get("/items/i7/image").status_code == 404
    for by in ("behaviour", "text", "image", "fused"):
        similar = client.get("/items/i3/similar", params={"by": by, "k": 5}).json()
        assert similar["by"] == by and len(similar["items"]) == 5
        assert "i3" not in {h["item_id"] for h in similar["items"]}
    found = client.get("/search", params={"q": "robots exploring a galaxy", "by": "text"}).json()
    assert found["query"] == "robots exploring a galaxy" and len(found["items"]) == 10
    assert all(space(h["item_id"]) for h in found["items"])
    images = client.get("/search", params={"q": "robots", "by": "image", "k": 40}).json()
    assert len({h["item_id"] for h in images["items"]}) == 40  # every item has image features
    mood = client.post("/sentiment", json={"text": "loved it, great film"}).json()
    assert mood["label"] == "positive" and set(mood["probabilities"]) == {
        "negative",
        "neutral",
        "positive",
    }
    assert abs(sum(mood["probabilities"].values()) - 1) < 1e-6 and 1 <= mood["stars"] <= 5


def test_unknown_ids_are_404_naming_the_id(client):
    for item in ("nope", "--5", "²"):  # the last two once passed str.isdigit, then int() failed
        for url in (f"/items/{item}", f"/items/{item}/image", f"/items/{item}/similar"):
            response = client.get(url)
            assert response.status_code == 404
            assert response.json() == {"detail": f"unknown item id '{item}'"}
    response = client.get("/users/ghost/recommendations")
    assert response.status_code == 404 and response.json()["detail"] == "unknown user id 'ghost'"
    response = client.post("/recommendations", json={"liked_item_ids": ["i1", "zz"]})
    assert response.status_code == 404 and response.json()["detail"] == "unknown item id 'zz'"


def test_path_traversal_is_refused(client, bundle):
    for url in (
        "/items/..%2Fmanifest.json/image",
        "/items/..%2F..%2F..%2Fetc%2Fpasswd/image",
        "/items/%2E%2E/image",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"kind" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "field"),
    [
        ("get", "/users/u0/recommendations", {"params": {"k": 0}}, "k"),
        ("get", "/users/u0/recommendations", {"params": {"k": 101}}, "k"),
        ("get", "/items/i1/similar", {"params": {"by": "smell"}}, "by"),
        ("get", "/search", {"params": {"q": ""}}, "q"),
        ("get", "/search", {"params": {"q": "x" * 501}}, "q"),
        ("get", "/search", {}, "q"),
        ("post", "/recommendations", {"json": {"liked_item_ids": "i1"}}, "liked_item_ids"),
        ("post", "/recommendations", {"json": {"text": "x", "k": 1000}}, "k"),
        ("post", "/sentiment", {"json": {"item_id": "i1"}}, "text"),
        ("get", "/search", {"params": {"q": "   "}}, "q"),
        ("post", "/sentiment", {"json": {"text": " \n "}}, "text"),
        ("post", "/recommendations", {"json": {"text": "  "}}, "text"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, method, url, kwargs, field):
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == 422
    assert any(error["loc"][-1] == field for error in response.json()["detail"])


def test_malformed_json_and_empty_preferences_are_422(client):
    response = client.post(
        "/recommendations",
        content=b'{"liked_item_ids": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"
    response = client.post("/recommendations", json={"k": 3})
    assert response.status_code == 422 and "liked_item_ids, text" in response.json()["detail"]


def test_openapi_schema_documents_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for route in (
        "/health",
        "/metadata",
        "/users",
        "/users/{user_id}/recommendations",
        "/recommendations",
        "/items/{item_id}",
        "/items/{item_id}/image",
        "/items/{item_id}/similar",
        "/search",
        "/sentiment",
    ):
        assert route in paths, route
    hit = client.get("/openapi.json").json()["components"]["schemas"]["ItemHit"]
    assert set(hit["properties"]) == {"item_id", "score", "title", "image_url", "because"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_nothing_from_outside(client, page):
    """Each script, style and icon the page names is served here (a CDN would leave the page
    blank offline), and the page reads this server's schema."""
    import re

    html = client.get(page).text
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    linked += re.findall(r"""url: ?['"]([^'"]+)['"]""", html)  # Swagger UI's schema URL
    assert linked and "/openapi.json" in html
    for url in linked:
        assert url.startswith("/"), f"{page} loads {url} from outside the server"
        answer = client.get(url)
        assert answer.status_code == 200 and answer.content, url
    assert page not in client.get("/openapi.json").json()["paths"]


def test_concurrent_requests_all_succeed(client, server):
    urls = [
        f"/users/u{i % 60}/recommendations?k=5" if i % 3 == 0 else
        f"/items/i{i % 40}/similar?by=fused" if i % 3 == 1 else
        "/search?q=robots%20in%20space&by=image"
        for i in range(60)
    ]  # fmt: skip
    expected = {url: client.get(url).json() for url in set(urls)}

    def fetch(url: str) -> tuple[int, dict]:
        with httpx.Client(base_url=server, timeout=60) as own:
            response = own.get(url)
            return response.status_code, response.json()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(fetch, urls))
    assert [status for status, _ in results] == [200] * len(urls)
    assert all(body == expected[url] for url, (_, body) in zip(urls, results, strict=True))


def test_the_api_the_cli_and_python_share_their_defaults(client, bundle):
    """One default per question, whichever way it is asked: similar items in the view the
    model scores with, search by image."""
    served = load_bundle(bundle)
    similar = client.get("/items/i3/similar", params={"k": 5}).json()
    assert similar["by"] == served.explain_view() == "fused"
    assert [h["item_id"] for h in similar["items"]] == served.similar_items("i3", k=5)[
        "item_id"
    ].tolist()
    found = client.get("/search", params={"q": "robots exploring a galaxy"}).json()
    assert found["by"] == "image"
    assert [h["item_id"] for h in found["items"]] == served.search("robots exploring a galaxy")[
        "item_id"
    ].tolist()


def test_missing_cells_are_null_whatever_the_string_dtype():
    """pandas 2 reads a string column's gaps back from parquet as pd.NA, pandas 3 as NaN."""
    from fusionrec.serve.app import _json_value

    for gap in (None, float("nan"), np.float32("nan"), pd.NA, pd.NaT):
        assert _json_value(gap) is None
    assert _json_value(np.int64(3)) == 3 and _json_value("x") == "x"
    assert _json_value(np.array([1, 2])) == "[1 2]"
