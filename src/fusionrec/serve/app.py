"""The HTTP API (FastAPI) over a ``BundleRecommender``; its OpenAPI schema is at
``/openapi.json``, browsable at ``/docs`` (Swagger UI) and ``/redoc``. The web page, when
``serve/static/`` exists, is served at ``/``. Nothing is loaded from outside the server: the
documentation pages' scripts are the copies the ``fastapi-offline`` package ships (FastAPI's
own ``/docs`` fetches them from a CDN, so it stays blank on a machine without internet).

Routes are thin: parse and validate, call the bundle's recommender, shape the answer.
Unknown ids are 404 naming the id; out-of-range ``k`` or query length and malformed bodies
are 422 naming the field (FastAPI's validation); a request the bundle cannot answer (a view
the model lacks, no search index) is 400 with the reason.

Threads: requests run side by side, so each request computes on one thread
(``limit_threads``): FAISS and torch would otherwise start an OpenMP pool per request
thread, more threads than cores, and a request then waits for a pool thread the OS has not
scheduled. Routes that only look up vectors and
rank a few items are ``async`` and run on the event loop, without a hop to a worker thread;
routes that run a text encoder or read a file run in FastAPI's thread pool.
"""

from __future__ import annotations

import gc
import mimetypes
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from fusionrec.errors import DataError, FusionrecError
from fusionrec.serve.recommender import BundleRecommender
from fusionrec.tasks.base import Hits
from fusionrec.tasks.diversify import RATINGS

STATIC = Path(__file__).resolve().parent / "static"
#: Where the documentation pages' scripts, styles and icon are served from.
DOCS_ASSETS = "/docs-assets"
MAX_K = 100
#: the most item ids ``only`` / ``exclude`` may name in one request
MAX_LISTED = 100_000
MAX_QUERY = 500
#: How many of the user's (or the request's) liked items a "because" line names.
BECAUSE = 3
#: Text fields must hold more than spaces (blank text is refused as empty text is: 422).
NOT_BLANK = r"\S"
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many items (1-100)")]
#: repeat the parameter per id (``?only=i1&only=i2``)
Only = Annotated[
    list[str] | None, Query(max_length=MAX_LISTED, description="item ids to choose from")
]
Exclude = Annotated[
    list[str] | None, Query(max_length=MAX_LISTED, description="item ids never to return")
]
Diversify = Annotated[
    float,
    Query(
        ge=0.0,
        le=1.0,
        description="0 (the model's order) to 1: re-rank the model's best items for a list of "
        "less alike items (maximal marginal relevance)",
    ),
]
DiversifyBy = Annotated[
    str,
    Query(description="what makes items alike: ratings (co-rated), or a view (text, image, fused)"),
]
#: Compute threads (FAISS and torch OpenMP pools) a request thread uses.
THREADS_PER_REQUEST = 1
_limited = threading.local()


def limit_threads() -> None:
    """Make the calling thread compute on ``THREADS_PER_REQUEST`` threads (once per thread).

    OpenMP settings (FAISS, torch) belong to the thread that makes them, so setting them once
    at start-up misses FastAPI's request threads, which then each start a pool of one thread
    per core. (numpy's BLAS pool is left alone: the matrices of a request are too small for
    it to use more than one thread, and limiting it measurably slowed requests.)"""
    if getattr(_limited, "done", False):
        return
    import faiss
    import torch

    torch.set_num_threads(THREADS_PER_REQUEST)
    faiss.omp_set_num_threads(THREADS_PER_REQUEST)
    _limited.done = True


class ItemRef(BaseModel):
    item_id: str
    title: str | None


class ItemHit(BaseModel):
    item_id: str
    score: float
    title: str | None
    image_url: str | None = Field(description="/items/<id>/image, or null without an image")
    because: list[ItemRef] = Field(
        description="up to 3 liked items most similar to this one (the explanation API)"
    )


class Health(BaseModel):
    status: str


class Metadata(BaseModel):
    dataset: str
    model: str
    n_users: int
    n_items: int
    added_items: int = Field(
        description="how many of the items were added after training (scored through their "
        "content neighbours)"
    )
    views: list[str]
    metrics: dict[str, Any] = Field(description="test metrics of the run (mean and std)")
    search: bool
    search_ways: list[str]
    sentiment: bool
    history_encoder: bool = Field(
        description="whether liked items are encoded as an ordered history (sequential model)"
    )
    bundle_version: int
    index: dict[str, str]


class Users(BaseModel):
    user_ids: list[str]
    total: int


class UserRecommendations(BaseModel):
    user_id: str
    items: list[ItemHit]


class Preferences(BaseModel):
    """An anonymous user: liked item ids and/or what they like in words."""

    liked_item_ids: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="liked item ids in the order consumed, oldest first: a sequential model "
        "encodes them as the user's history (order matters), others fold them in",
    )
    text: str | None = Field(None, min_length=1, max_length=MAX_QUERY, pattern=NOT_BLANK)
    k: int = Field(10, ge=1, le=MAX_K)
    only: list[str] | None = Field(
        None, max_length=MAX_LISTED, description="item ids to choose from (default: all)"
    )
    exclude: list[str] = Field(
        default_factory=list, max_length=MAX_LISTED, description="item ids never to return"
    )
    diversify: float = Field(
        0.0, ge=0.0, le=1.0, description="0 (the model's order) to 1: a list of less alike items"
    )
    diversify_by: str = Field(
        RATINGS, description="what makes items alike: ratings, or a view (text, image, fused)"
    )


class Recommendations(BaseModel):
    items: list[ItemHit]


class Candidates(BaseModel):
    """Items to score for one user, e.g. candidates another system retrieved."""

    item_ids: list[str] = Field(..., min_length=1, max_length=MAX_LISTED)


class ItemScore(BaseModel):
    item_id: str
    score: float


class UserScores(BaseModel):
    """The model's score of each given item for the user, in the order given."""

    user_id: str
    items: list[ItemScore]


class Item(BaseModel):
    item_id: str
    title: str | None
    image_url: str | None
    fields: dict[str, Any]


class Similar(BaseModel):
    item_id: str
    by: str
    items: list[ItemHit]


class SearchResults(BaseModel):
    query: str
    by: str
    items: list[ItemHit]


class Review(BaseModel):
    text: str = Field(min_length=1, max_length=5000, pattern=NOT_BLANK)
    item_id: str | None = None


class Sentiment(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]
    stars: float


def _json_value(value: Any) -> Any:
    """A parquet cell as JSON: numpy scalars unwrapped, missing values null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or value is pd.NA or value is pd.NaT:  # a string column's gap is pd.NA
        return None
    try:
        return None if value != value else value
    except (TypeError, ValueError):  # arrays and other non-comparable cells
        return str(value)


class Catalogue:
    """Turns item rows into the JSON the routes return."""

    def __init__(self, rec: BundleRecommender) -> None:
        self.rec = rec
        self.ids = [str(i) for i in rec.item_ids.tolist()]
        self.titles = [None if t is None else str(t) for t in rec.titles.tolist()]
        self.urls = [
            None if image is None else f"/items/{item}/image"
            for item, image in zip(self.ids, rec.images.tolist(), strict=True)
        ]

    def row(self, item_id: str) -> int:
        if not self.rec.has_item(item_id):
            raise HTTPException(404, f"unknown item id {item_id!r}")
        return int(self.rec.item_rows([item_id])[0])

    def allowed(self, only: list[str] | None, exclude: list[str] | None) -> np.ndarray | None:
        """The mask of items a request may be answered with; 404 naming the unknown ids."""
        try:
            return self.rec.allowed(only, exclude)
        except DataError as exc:  # the id lookup's error: every unknown id, by name
            raise HTTPException(404, str(exc)) from None

    def ref(self, row: int) -> ItemRef:
        return ItemRef(item_id=self.ids[row], title=self.titles[row])

    def hits(self, hits: Hits, pool: np.ndarray | None = None) -> list[ItemHit]:
        rows, scores = hits
        because = self.rec.because(pool, rows, BECAUSE)[0] if pool is not None else None
        return [
            ItemHit(
                item_id=self.ids[row],
                score=float(score),
                title=self.titles[row],
                image_url=self.urls[row],
                because=[] if because is None else [self.ref(int(b)) for b in because[i]],
            )
            for i, (row, score) in enumerate(zip(rows.tolist(), scores.tolist(), strict=True))
        ]

    def item(self, row: int) -> Item:
        record = self.rec.items.iloc[row]
        fields = {
            name.removeprefix("field:"): _json_value(record[name])
            for name in self.rec.items.columns
            if name.startswith("field:")
        }
        return Item(
            item_id=self.ids[row], title=self.titles[row], image_url=self.urls[row], fields=fields
        )


def create_app(bundle: str | Path | BundleRecommender) -> FastAPI:
    """The app serving ``bundle`` (a folder, checked on load, or a loaded recommender)."""
    rec = bundle if isinstance(bundle, BundleRecommender) else BundleRecommender.load(bundle)
    # The process now holds ~500,000 long-lived objects (torch, pandas, the bundle); a full
    # garbage collection walks them all, a pause of 0.2-0.5 s in the middle of some request.
    # Frozen, they are never walked again; requests' own garbage is still collected.
    gc.collect()
    gc.freeze()
    cat = Catalogue(rec)
    manifest = rec.manifest
    app = FastAPI(
        title="fusionrec",
        version=str(manifest.get("fusionrec_version", "")),
        description=f"Recommendations from the {manifest['model']} model on {manifest['dataset']}",
        docs_url=None,
        redoc_url=None,
    )
    app.state.recommender = rec
    _add_docs_pages(app)

    @app.exception_handler(FusionrecError)
    async def _bad_request(_: Request, exc: FusionrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health", response_model=Health)
    async def health() -> Health:
        return Health(status="ok")

    @app.get("/metadata", response_model=Metadata)
    async def metadata() -> Metadata:
        return Metadata(
            dataset=manifest["dataset"],
            model=manifest["model"],
            n_users=manifest["n_users"],
            n_items=manifest["n_items"],
            added_items=manifest.get("added_items", 0),  # bundles exported before it: none
            views=manifest["views"],
            metrics=manifest["metrics"].get("test", {}),
            search=bool(manifest["search"]),
            search_ways=manifest.get("search_ways", []),
            sentiment=bool(manifest["sentiment"]),
            history_encoder=manifest.get("history") is not None,
            bundle_version=manifest["format"],
            index=manifest["index"],
        )

    @app.get("/users", response_model=Users)
    async def users(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Users:
        ids = rec.user_ids[offset : offset + limit]
        return Users(user_ids=[str(u) for u in ids.tolist()], total=len(rec.user_ids))

    @app.get("/users/{user_id}/recommendations", response_model=UserRecommendations)
    async def user_recommendations(
        user_id: str,
        k: K = 10,
        exclude_seen: bool = True,
        only: Only = None,
        exclude: Exclude = None,
        diversify: Diversify = 0.0,
        diversify_by: DiversifyBy = RATINGS,
    ) -> Any:
        limit_threads()
        if not rec.has_user(user_id):
            raise HTTPException(404, f"unknown user id {user_id!r}")
        user = int(rec.user_rows([user_id])[0])
        allowed = cat.allowed(only, exclude)
        hits = rec.user_top(user, k, exclude_seen, allowed, diversify, diversify_by)
        return UserRecommendations(
            user_id=user_id, items=cat.hits(hits, rec.train_matrix[user].indices)
        )

    @app.post("/recommendations", response_model=Recommendations)
    def recommendations(body: Preferences) -> Any:
        limit_threads()
        if not body.liked_item_ids and body.text is None:
            raise HTTPException(422, "give liked_item_ids, text, or both")
        liked = np.array([cat.row(i) for i in body.liked_item_ids], dtype=np.int64)
        allowed = cat.allowed(body.only, body.exclude or None)
        hits = rec.preference_top(
            liked, body.text, body.k, allowed=allowed, diversify=body.diversify,
            diversify_by=body.diversify_by,
        )  # fmt: skip
        return Recommendations(items=cat.hits(hits, liked))

    @app.post("/users/{user_id}/scores", response_model=UserScores)
    def user_scores(user_id: str, body: Candidates) -> Any:
        limit_threads()
        if not rec.has_user(user_id):
            raise HTTPException(404, f"unknown user id {user_id!r}")
        try:
            scores = rec.score(user_id, body.item_ids)
        except DataError as exc:  # the id lookup's error: every unknown item id, by name
            raise HTTPException(404, str(exc)) from None
        return UserScores(
            user_id=user_id,
            items=[
                ItemScore(item_id=i, score=float(s))
                for i, s in zip(body.item_ids, scores.tolist(), strict=True)
            ],
        )

    @app.get("/items/{item_id}", response_model=Item)
    async def item(item_id: str) -> Any:
        return cat.item(cat.row(item_id))

    @app.get("/items/{item_id}/image", response_class=FileResponse)
    def image(item_id: str) -> Any:
        row = cat.row(item_id)
        name = rec.images.iloc[row]
        if name is None:
            raise HTTPException(404, f"item {item_id!r} has no image")
        root = (rec.folder / "images").resolve()
        path = (rec.folder / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise HTTPException(404, f"item {item_id!r} has no image")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media)

    @app.get("/items/{item_id}/similar", response_model=Similar)
    async def similar(
        item_id: str,
        by: Literal["behaviour", "text", "image", "audio", "fused"] | None = None,
        k: K = 10,
        only: Only = None,
        exclude: Exclude = None,
    ) -> Any:
        """Items closest to the item in view ``by`` (default: the view the model scores
        with, fused for multimodal models)."""
        limit_threads()
        row = cat.row(item_id)
        by = by or rec.explain_view() or "behaviour"
        hits = rec.similar_top(row, k, by, cat.allowed(only, exclude))
        return Similar(item_id=item_id, by=by, items=cat.hits(hits))

    @app.get("/search", response_model=SearchResults)
    def search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, pattern=NOT_BLANK)],
        by: Literal["image", "text", "fused"] | None = None,
        k: K = 10,
    ) -> Any:
        limit_threads()
        hits = rec.search_top(q, by, k)
        return SearchResults(query=q, by=by or rec.searcher().default_way, items=cat.hits(hits))

    @app.post("/sentiment", response_model=Sentiment)
    def sentiment(body: Review) -> Any:
        limit_threads()
        return Sentiment(**rec.sentiment(body.text, body.item_id))

    if STATIC.is_dir() and (STATIC / "index.html").exists():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


def _add_docs_pages(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` over ``/openapi.json``, with their assets served here."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    common = {"openapi_url": app.openapi_url or "/openapi.json", "title": f"{app.title} API"}
    icon = f"{DOCS_ASSETS}/favicon.png"
    pages = {
        "/docs": get_swagger_ui_html(
            **common,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=icon,
        ),
        "/redoc": get_redoc_html(
            **common,
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=icon,
            with_google_fonts=False,
        ),
    }
    for path, page in pages.items():
        app.add_api_route(path, _fixed_page(bytes(page.body).decode()), include_in_schema=False)


def _fixed_page(html: str) -> Callable[[], Awaitable[Any]]:
    """A route answering ``html``, a fresh response each time (and no parameters, so no
    query string reaches the page)."""
    from fastapi.responses import HTMLResponse

    async def page() -> HTMLResponse:
        return HTMLResponse(html)

    return page


#: Environment variable ``app_from_env`` reads the bundle folder from (``--workers`` > 1).
BUNDLE_ENV = "FUSIONREC_BUNDLE"


def app_from_env() -> FastAPI:
    """The app of the bundle named by ``$FUSIONREC_BUNDLE`` (uvicorn's factory for several
    worker processes, each loading the bundle itself)."""
    return create_app(os.environ[BUNDLE_ENV])
