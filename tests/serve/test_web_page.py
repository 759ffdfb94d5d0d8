"""End-to-end: the web page, served by the real app, driven in headless Chromium.

The app is conftest.py's ``server``: uvicorn in a thread serving the bundle exported from a
tiny MGCN run (text and pre-computed image vectors, real JPEG posters for all items but two,
a tiny sentiment model). Every check compares what the page shows with what the API answers
to the same request, so the page cannot pass by showing something else.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM}: the web page test needs it "
        "(apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
if importlib.util.find_spec("fusionrec.serve.app") is None:
    pytest.skip("fusionrec.serve not present", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

#: All of conftest.py's toy catalogue, so its items without a poster are among the results.
ALL_ITEMS = 40
WAIT_S = 60
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    assert CHROMEDRIVER.exists(), f"{CHROMEDRIVER} is missing: apt-get install -y chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="fusionrec-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def page(server, browser):
    """The page freshly loaded, once its metadata and user list have arrived."""
    browser.get(server + "/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#user-select option"))
    browser.get_log("browser")  # start each test with an empty console log
    return browser


def wait(driver, condition):
    return WebDriverWait(driver, WAIT_S).until(condition)


def api(server: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    with urllib.request.urlopen(urllib.request.Request(server + path, data, headers)) as r:
        return json.load(r)


def cards(driver, list_id: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f"#{list_id} .card")


def wait_for_cards(driver, list_id: str, status_id: str) -> list:
    """The cards of a list once its request has finished (and did not fail)."""
    wait(driver, lambda d: "loading" not in d.find_element(By.ID, status_id).get_attribute("class"))
    status = driver.find_element(By.ID, status_id)
    assert "error" not in status.get_attribute("class"), status.text
    return cards(driver, list_id)


def assert_cards_match(driver, list_id: str, items: list[dict]) -> None:
    """The list shows the API's items in order; posters loaded, placeholders where none."""
    shown = cards(driver, list_id)
    titles = [c.find_element(By.CSS_SELECTOR, ".title").text for c in shown]
    assert titles == [item["title"] or item["item_id"] for item in items]
    wait(
        driver,
        lambda d: d.execute_script(
            f"return [...document.querySelectorAll('#{list_id} img')].every(i => i.complete)"
        ),
    )
    broken = driver.find_elements(By.CSS_SELECTOR, f"#{list_id} [data-broken]")
    assert not broken, f"posters failed to load: {[b.get_attribute('aria-label') for b in broken]}"
    for card, item in zip(shown, items, strict=True):
        if item["image_url"] is None:
            assert card.find_elements(By.CSS_SELECTOR, ".placeholder[role=img]"), item
            continue
        img = card.find_element(By.CSS_SELECTOR, "img")
        assert img.get_attribute("alt") == item["title"]
        assert driver.execute_script("return arguments[0].naturalWidth", img) > 0, item


def assert_no_script_errors(driver) -> None:
    errors = [e for e in driver.get_log("browser") if e["source"] == "javascript"]
    assert not errors, errors


def test_header_and_recommendations_for_a_picked_user(server, page):
    meta = api(server, "/metadata")
    header = page.find_element(By.ID, "meta").text
    assert meta["dataset"] in header and meta["model"] in header
    ks = sorted(int(name.split("@")[1]) for name in meta["metrics"] if name.startswith("recall@"))
    for name in (f"recall@{ks[0]}", f"ndcg@{ks[0]}"):  # the run's metrics, means over seeds
        assert f"{name} {meta['metrics'][name]['mean']:.3f}" in header
    options = Select(page.find_element(By.ID, "user-select")).options
    listed = api(server, "/users?limit=50&offset=0")
    assert [o.get_attribute("value") for o in options] == listed["user_ids"]

    Select(page.find_element(By.ID, "user-select")).select_by_value("u1")
    page.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    assert wait_for_cards(page, "recs", "recs-status")
    expected = api(server, "/users/u1/recommendations?k=10&exclude_seen=true")["items"]
    assert_cards_match(page, "recs", expected)
    because = [c.text for c in page.find_elements(By.CSS_SELECTOR, "#recs .because")]
    liked = [b["title"] for item in expected for b in item["because"]]
    assert because and all(line.startswith("Because you liked ") for line in because)
    assert any(title in line for line in because for title in liked)
    assert_no_script_errors(page)


def test_the_variety_slider_diversifies_the_lists_as_the_api_does(server, page):
    meta = api(server, "/metadata")
    alike = Select(page.find_element(By.ID, "rec-alike"))
    assert [o.get_attribute("value") for o in alike.options][0] == "ratings"
    assert "image" in [o.get_attribute("value") for o in alike.options] and "image" in meta["views"]
    slider = page.find_element(By.ID, "rec-variety")
    page.execute_script(  # a range input is dragged, not typed into: set it and say so
        "arguments[0].value = '0.7'; arguments[0].dispatchEvent(new Event('input'))", slider
    )
    assert page.find_element(By.ID, "rec-variety-value").text == "0.7"
    alike.select_by_value("image")
    Select(page.find_element(By.ID, "user-select")).select_by_value("u1")
    page.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    assert wait_for_cards(page, "recs", "recs-status")
    query = "k=10&exclude_seen=true&diversify=0.7&diversify_by=image"
    expected = api(server, f"/users/u1/recommendations?{query}")["items"]
    plain = api(server, "/users/u1/recommendations?k=10&exclude_seen=true")["items"]
    assert [i["item_id"] for i in expected] != [i["item_id"] for i in plain]
    assert_cards_match(page, "recs", expected)
    body = {"liked_item_ids": ["i1", "i2"], "k": 10, "diversify": 0.7, "diversify_by": "image"}
    liked = api(server, "/recommendations", body)["items"]
    page.find_element(By.ID, "pref-items").send_keys("i1, i2")
    page.find_element(By.CSS_SELECTOR, "#prefs-form button[type=submit]").click()
    wait(page, lambda d: "for what you like" in d.find_element(By.ID, "recs-status").text)
    assert_cards_match(page, "recs", liked)
    assert_no_script_errors(page)


def test_stated_tastes_show_posters_and_placeholders(server, page):
    page.find_element(By.ID, "pref-text").send_keys("space adventure with robots")
    k = page.find_element(By.ID, "rec-k")
    k.clear()
    k.send_keys(str(ALL_ITEMS))
    page.find_element(By.CSS_SELECTOR, "#prefs-form button[type=submit]").click()
    assert wait_for_cards(page, "recs", "recs-status")
    body = {"text": "space adventure with robots", "k": ALL_ITEMS}
    expected = api(server, "/recommendations", body)["items"]
    assert_cards_match(page, "recs", expected)
    assert any(item["image_url"] is None for item in expected), "no item without a poster"
    assert any(item["image_url"] is not None for item in expected), "no item with a poster"
    assert_no_script_errors(page)


def test_search_then_open_an_item_by_keyboard_shows_similar_items(server, page):
    meta = api(server, "/metadata")
    assert meta["search"], "the bundle of a text + image run should have a search index"
    page.find_element(By.ID, "search-q").send_keys("romantic comedy wedding")
    way = Select(page.find_element(By.ID, "search-by"))
    offered = [o.get_attribute("value") for o in way.options]
    assert offered and set(offered) <= set(meta.get("search_ways", offered))
    by = "text" if "text" in offered else offered[0]
    way.select_by_value(by)
    page.find_element(By.CSS_SELECTOR, "#search-form button[type=submit]").click()
    found = wait_for_cards(page, "search-results", "search-status")
    query = urllib.parse.urlencode({"q": "romantic comedy wedding", "by": by, "k": 10})
    expected = api(server, f"/search?{query}")["items"]
    assert_cards_match(page, "search-results", expected)

    found[0].send_keys(Keys.ENTER)  # cards are buttons: the keyboard opens them
    item = api(server, f"/items/{expected[0]['item_id']}")
    wait(page, lambda d: d.find_element(By.ID, "item-title").text == item["title"])
    fields = [dt.text for dt in page.find_elements(By.CSS_SELECTOR, "#item-fields dt")]
    assert fields == list(item["fields"])
    if item["image_url"] is None:
        assert page.find_elements(By.CSS_SELECTOR, "#item-poster .placeholder")
    else:
        poster = page.find_element(By.CSS_SELECTOR, "#item-poster img")
        wait(page, lambda d: d.execute_script("return arguments[0].naturalWidth > 0", poster))

    ways = [
        o.get_attribute("value") for o in Select(page.find_element(By.ID, "similar-by")).options
    ]
    assert ways and set(ways) <= set(meta["views"])
    for by in ways:
        Select(page.find_element(By.ID, "similar-by")).select_by_value(by)
        assert wait_for_cards(page, "similar", "similar-status")
        similar = api(server, f"/items/{item['item_id']}/similar?by={by}&k=10")["items"]
        assert_cards_match(page, "similar", similar)
    assert_no_script_errors(page)


def test_pasted_review_shows_its_sentiment(server, page):
    review = "Great fit and lovely fabric, I wear it every day."
    page.find_element(By.ID, "review").send_keys(review)
    page.find_element(By.CSS_SELECTOR, "#sentiment-form button[type=submit]").click()
    result = page.find_element(By.ID, "sentiment-result")
    wait(page, lambda d: result.is_displayed())
    expected = api(server, "/sentiment", {"text": review})
    assert page.find_element(By.CSS_SELECTOR, ".sentiment-label").text == expected["label"]
    assert f"({int(100 * expected['probability'] + 0.5)}%)" in result.text  # JS Math.round
    assert_no_script_errors(page)


def test_api_errors_are_shown_inline_in_place_of_results(page):
    page.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
    assert wait_for_cards(page, "recs", "recs-status")
    page.find_element(By.ID, "pref-items").send_keys("no-such-item")
    page.find_element(By.CSS_SELECTOR, "#prefs-form button[type=submit]").click()
    status = page.find_element(By.ID, "recs-status")
    wait(page, lambda d: "error" in status.get_attribute("class"))
    assert "no-such-item" in status.text  # the API's detail names the unknown id
    assert not cards(page, "recs")


def test_an_item_item_bundle_explains_by_its_weights_and_has_no_similar_items(
    itemknn_bundle, serve, browser
):
    """ItemKNN's bundle has no item vectors: recommendations say which liked items raised
    them (its W), and an opened item says there is nothing to compare it by."""
    with serve(itemknn_bundle) as url:
        browser.get(url + "/")
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#user-select option"))
        browser.get_log("browser")
        assert not browser.find_element(By.ID, "similar-by").is_enabled()
        Select(browser.find_element(By.ID, "user-select")).select_by_value("u1")
        browser.find_element(By.CSS_SELECTOR, "#user-form button[type=submit]").click()
        shown = wait_for_cards(browser, "recs", "recs-status")
        expected = api(url, "/users/u1/recommendations?k=10&exclude_seen=true")["items"]
        assert_cards_match(browser, "recs", expected)
        because = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#recs .because")]
        assert because and all(line.startswith("Because you liked ") for line in because)
        assert expected[0]["because"][0]["title"] in because[0]
        shown[0].send_keys(Keys.ENTER)
        status = browser.find_element(By.ID, "similar-status")
        wait(browser, lambda d: "no item vectors" in status.text)
        assert not cards(browser, "similar")
        assert_no_script_errors(browser)


def test_the_api_documentation_renders_offline(server, browser):
    """/docs draws every route of the schema with the Swagger UI the server itself serves
    (this machine has no internet: a CDN script would leave the page blank)."""
    browser.get(server + "/docs")
    paths = api(server, "/openapi.json")["paths"]
    routes = lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock .opblock-summary-path")  # noqa: E731
    wait(browser, lambda d: len(routes(d)) == sum(len(ops) for ops in paths.values()))
    shown = {r.get_attribute("data-path") or r.text for r in routes(browser)}
    assert shown == set(paths)
    assert_no_script_errors(browser)
