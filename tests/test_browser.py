"""The workshop's pages in a real browser: headless Chromium (Debian's), driven by Playwright.

Every page must render with no console error and no request leaving loopback; the live
view must show each protocol's calls within a second, with the right step outcomes.
"""
import os
import signal
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
import requests
from lxml import etree
from playlist.v1 import playlist_pb2, playlist_pb2_grpc
from playwright.sync_api import expect, sync_playwright

from clients.calls import SOAP_ENV
from screen import pages
from serve.launch import Server

from .conftest import TEST_ENV

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WITHIN_A_SECOND = 1000  # ms


def require_chromium(path: Path = CHROMIUM) -> None:
    """Skip where Debian's Chromium is missing, saying why and how to install it."""
    if not path.exists():
        reason = (f"no Chromium at {path}: the browser tests need Debian's chromium "
                  "(apt-get install -y chromium, as .ci/run does)")
        warnings.warn(reason)  # pytest -q prints no skip reasons, but always its warnings
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser downloaded by `playwright install`.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A browser page that records its console errors and every request it makes."""

    def __init__(self, browser):
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000})
        self.errors, self.requests, self.outside = [], [], []
        # A request for any other host is recorded and never sent.
        self.context.route(lambda url: urlsplit(url).hostname not in LOOPBACK, self._refuse)
        self.page = self.context.new_page()
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _refuse(self, route):
        self.outside.append(route.request.url)
        route.abort()

    def open(self, url: str, **options):
        self.page.goto(url, **options)
        return self.page

    def assert_clean(self):
        assert self.errors == []
        assert self.outside == []
        assert self.requests and all(urlsplit(url).hostname in LOOPBACK for url in self.requests)


@pytest.fixture
def visit(browser):
    opened = Visit(browser)
    yield opened
    opened.context.close()


@pytest.fixture(scope="module")
def base(rest_server):
    return f"http://127.0.0.1:{rest_server.port}"


@pytest.mark.parametrize("path, rendered", [
    ("/", "table.protocols"),
    ("/docs/rest", ".opblock-summary-path"),           # Swagger UI drew the operations
    ("/docs/soap", "#op-WhoAmI"),
    ("/docs/grpc", '[data-kind="bidirectional streaming"]'),
    ("/compare", "pre.command"),
    ("/handout", "article.sheet table"),
])
def test_page_renders_with_no_console_error_and_no_outside_request(visit, base, home, path, rendered):
    if path == "/docs/soap" and not pages.WSDL.exists():
        pytest.skip("wsdl/playlists.wsdl is not written yet (make wsdl)")
    (home / "compare.html").unlink(missing_ok=True)
    page = visit.open(base + path, wait_until="networkidle")
    page.wait_for_selector(rendered)
    visit.assert_clean()


def test_the_comparison_page_shows_the_latest_report(visit, base, home):
    (home / "compare.html").write_text("<!doctype html><title>Comparison</title><style>td{color:#333}</style>"
                                       "<table><tr><td id=rest>REST 312 B</td><td>gRPC 97 B</td></tr></table>")
    try:
        page = visit.open(base + "/compare", wait_until="networkidle")
        assert page.inner_text("#rest") == "REST 312 B"
        visit.assert_clean()
    finally:
        (home / "compare.html").unlink()


def test_the_comparison_page_shows_each_exchange_whole_in_large_type_with_the_site_around_it(visit, base, home):
    from clients import compare
    long = "\n".join(f"< line {n} of a long answer" for n in range(100))
    exchanges = {p: compare.Exchange(long, 100, 200, 1.0, "OK") for p in compare.PROTOCOLS}
    compare.write_html([("search", "Search", exchanges)], home / "compare.html", {})
    try:
        visit.context.pages[0].set_viewport_size(PROJECTOR)
        page = visit.open(base + "/compare", wait_until="networkidle")
        assert page.locator("header nav a").count() >= 5 and page.locator("main").count() == 1
        for pane in page.locator("pre").all():
            assert font_px(pane) >= 16
            assert pane.evaluate("node => node.scrollHeight <= node.clientHeight")   # no scroll bar of its own
        expect(page.locator("pre").first).to_contain_text("line 99 of a long answer")
        visit.assert_clean()
    finally:
        (home / "compare.html").unlink()


def test_the_rest_docs_document_the_four_security_schemes(visit, base):
    page = visit.open(base + "/docs/rest", wait_until="networkidle")
    page.click("button.authorize")
    dialog = page.wait_for_selector(".modal-ux")
    for scheme in ("apiKey", "basic", "bearer", "mutualTLS"):
        assert scheme in dialog.inner_text()
    visit.assert_clean()


# --- the live view: real calls over each protocol ---------------------------------------------

def rest_call(server, key: str) -> None:
    requests.get(f"http://127.0.0.1:{server.port}/v1/me", headers={"X-API-Key": key}, timeout=5)


def soap_call(server, key: str) -> None:
    url = f"http://127.0.0.1:{server.port}/soap"
    namespace = etree.fromstring(requests.get(url + "?wsdl", timeout=5).content).get("targetNamespace")
    envelope = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:tns="{namespace}">'
                f"<soap:Header><tns:ApiKey>{key}</tns:ApiKey></soap:Header>"
                "<soap:Body><tns:WhoAmI/></soap:Body></soap:Envelope>")
    requests.post(url, data=envelope.encode(), timeout=5,
                  headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"WhoAmI"'})


def grpc_call(server, key: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        try:
            playlist_pb2_grpc.PlaylistsStub(channel).WhoAmI(playlist_pb2.WhoAmIRequest(), timeout=5,
                                                            metadata=[("x-api-key", key)])
        except grpc.RpcError:
            pass  # the refused call: the live view shows its status


@pytest.mark.parametrize("protocol, server, call, refused_status", [
    ("rest", "rest_server", rest_call, "401"),
    ("soap", "soap_server", soap_call, "Client"),
    ("grpc", "rpc_server", grpc_call, "UNAUTHENTICATED"),
])
def test_the_live_view_shows_each_call_within_a_second(visit, base, request, credentials, protocol, server, call,
                                                       refused_status):
    server = request.getfixturevalue(server)
    key = credentials["users"]["alice"]["api_key"]
    page = visit.open(base + "/live")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    row = f'#calls tr[data-protocol="{protocol}"][data-operation="who_am_i"]'

    call(server, key)
    good = page.locator(row + '[data-outcome="ok"]')
    expect(good).to_be_visible(timeout=WITHIN_A_SECOND)
    for step in (1, 2, 3):
        expect(good.locator(f'td[data-step="{step}"]')).to_have_class("step ok")
    expect(good.locator("td.identity")).to_contain_text("alice")

    call(server, "not-a-key")
    refused = page.locator(row + '[data-outcome="unauthenticated"]')
    expect(refused).to_be_visible(timeout=WITHIN_A_SECOND)
    expect(refused.locator('td[data-step="1"]')).to_have_class("step ok")
    expect(refused.locator('td[data-step="2"]')).to_have_class("step fail")
    expect(refused.locator("td.answer")).to_contain_text(refused_status)
    expect(refused.locator('td[data-step="3"]')).to_have_class("step skip")

    assert key not in page.content()
    visit.assert_clean()


def test_a_soap_schema_error_is_shown_in_words_with_its_caller_as_rest_shows_it(visit, base, soap_server,
                                                                              credentials):
    page = visit.open(base + "/live")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    key = credentials["users"]["alice"]["api_key"]
    envelope = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:playlists:v1">'
                f"<soap:Header><p:ApiKey>{key}</p:ApiKey></soap:Header><soap:Body><p:SearchTracks>"
                "<p:page_size>500</p:page_size></p:SearchTracks></soap:Body></soap:Envelope>")
    requests.post(f"http://127.0.0.1:{soap_server.port}/soap", data=envelope, timeout=5,
                  headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"SearchTracks"'})
    requests.get(base + "/v1/tracks", params={"page_size": 500}, headers={"X-API-Key": key}, timeout=5)
    rows = {protocol: page.locator(f'#calls tr[data-protocol="{protocol}"][data-outcome="invalid_argument"]').first
            for protocol in ("soap", "rest")}
    for row in rows.values():
        expect(row.locator("td.identity")).to_contain_text("alice")
        expect(row.locator("td.answer")).to_contain_text("page_size: must be")
    words = {p: row.locator("td.answer").inner_text().split(" ", 1)[1] for p, row in rows.items()}
    assert words["soap"].split(":")[0] == words["rest"].split(":")[0] == "page_size", words
    assert "SCHEMASV" not in page.inner_text("#calls")
    visit.assert_clean()


def test_the_live_view_counts_failed_logins_by_the_user_claimed_and_by_address(visit, base, rest_server):
    page = visit.open(base + "/live")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    for attempt in range(5):
        requests.get(base + "/v1/tracks", auth=("mallory", f"guess-{attempt}"), timeout=5)
    requests.get(base + "/v1/tracks", params={"page_size": 500}, headers={"X-API-Key": "not-a-key"}, timeout=5)
    guesser = page.locator('#logins li[data-caller="user mallory"]')
    expect(guesser).to_have_attribute("data-count", "5")
    expect(guesser).to_have_class("alarm")
    expect(page.locator('#logins li[data-caller="from 127.0.0.1"]')).to_be_visible()
    visit.assert_clean()


def test_the_live_view_filters_by_protocol_user_and_outcome(visit, base, credentials):
    page = visit.open(base + "/live")
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
    for user in ("alice", "bob"):
        requests.get(base + "/v1/moods", headers={"X-API-Key": credentials["users"][user]["api_key"]}, timeout=5)
    requests.get(base + "/v1/moods", headers={"X-API-Key": "not-a-key"}, timeout=5)
    expect(page.locator('#calls tr[data-operation="list_moods"]')).to_have_count(3)

    page.select_option("#filter-user", "bob")
    expect(page.locator('#calls tr[data-operation="list_moods"]')).to_have_count(1)
    expect(page.locator("#calls tr:not([data-user='bob'])")).to_have_count(0)
    page.select_option("#filter-user", "")
    page.select_option("#filter-outcome", "refused")
    expect(page.locator("#calls tr:not(.refused)")).to_have_count(0)
    page.select_option("#filter-protocol", "grpc")
    expect(page.locator("#calls tr:not([data-protocol='grpc'])")).to_have_count(0)
    visit.assert_clean()


def test_the_live_view_shows_the_defences_switched_off(visit, home):
    unsafe = Server("rest", home, {**TEST_ENV, "PLAYLISTS_UNSAFE": "ratelimit"}, tls=False)
    try:
        page = visit.open(f"http://127.0.0.1:{unsafe.port}/live")
        switch = page.locator('#switches [data-protocol="rest"]')
        expect(switch).to_have_class("switch off")
        expect(switch).to_contain_text("rate limit")
        visit.assert_clean()
        page.goto("about:blank")  # close the stream, or the server's shutdown waits for it
    finally:
        unsafe.stop()


# --- the live view on a projector ----------------------------------------------------------

PROJECTOR = {"width": 1280, "height": 720}


def font_px(locator) -> float:
    return float(locator.evaluate("node => parseFloat(getComputedStyle(node).fontSize)"))


def test_the_live_view_is_readable_on_a_1280x720_projector(browser, base, credentials, tmp_path):
    context = browser.new_context(viewport=PROJECTOR)
    try:
        page = context.new_page()
        page.goto(base + "/live")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        alice = {"X-API-Key": credentials["users"]["alice"]["api_key"], "User-Agent": "projector"}
        for _ in range(5):   # refused calls: each row has a reason to read
            requests.get(base + "/v1/tracks", params={"page_size": 500}, headers=alice, timeout=5)
            requests.post(base + "/v1/playlists:generate", json={"mood": "calm", "duration_minutes": 2000},
                          headers=alice, timeout=5)
        expect(page.locator('#calls tr.refused td.identity[title^="projector"]')).to_have_count(10)
        page.screenshot(path=tmp_path / "live-1280x720.png")
        rows = page.locator("#calls tr")
        visible = rows.evaluate_all("rows => rows.filter(r => r.getBoundingClientRect().bottom <= innerHeight).length")
        assert visible >= 8
        assert font_px(rows.first.locator("td.answer")) >= 20 and font_px(rows.first.locator("td.operation")) >= 20
        labels = page.locator(".calls thead th, .strip .label, .strip h2, .strip .note, .total, "
                              ".calls .identity small, .filters label").all()
        assert labels
        for label in labels:
            assert font_px(label) >= 16, label.inner_text()
        cut = page.locator("#calls td, .bars .who").evaluate_all(
            "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)")
        assert cut == []   # no name or reason is cut off
    finally:
        context.close()


def test_every_tab_and_every_reload_shows_the_same_counters(browser, base, home):
    first, second = (browser.new_context(viewport=PROJECTOR).new_page() for _ in range(2))
    try:
        first.goto(base + "/live")
        expect(first.locator("#status")).to_have_attribute("data-state", "live")
        for _ in range(3):   # refused: journalled before the answer leaves (a success may wait for its batch)
            requests.get(base + "/v1/moods", headers={"X-API-Key": "not-a-key"}, timeout=5)
        second.goto(base + "/live")
        calls = str(len((home / "events.jsonl").read_text().splitlines()))   # what every page must say
        for page in (first, second, first):
            expect(page.locator("#total-total")).to_have_attribute("data-count", calls)
            page.reload()
    finally:
        for page in (first, second):
            page.context.close()


def test_the_live_view_resumes_each_stream_unseen(browser, home, credentials):
    """Streams end every STREAM_SECONDS (here 3 s): the page resumes with no visible reconnect."""
    server = Server("rest", home, {**TEST_ENV, "PLAYLISTS_LIVE_STREAM_SECONDS": "3"}, tls=False)
    context = browser.new_context(viewport=PROJECTOR)
    base = f"http://127.0.0.1:{server.port}"
    try:
        page = context.new_page()
        page.goto(base + "/live")
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "live")
        # Every state the status ever takes, as the page shows it.
        page.evaluate("""() => {
            window.states = [];
            new MutationObserver(() => states.push(document.getElementById("status").dataset.state))
                .observe(document.getElementById("status"), {attributes: true, childList: true});
        }""")
        alice = {"X-API-Key": credentials["users"]["alice"]["api_key"]}
        for streams in (2, 3, 4):   # each a rollover later: the call made meanwhile is shown
            expect(status).to_have_attribute("data-streams", str(streams), timeout=10_000)
            agent = f"after-rollover-{streams}"
            requests.get(base + "/v1/me", headers={**alice, "User-Agent": agent}, timeout=5)
            expect(page.locator(f'#calls td.identity[title^="{agent}"]')).to_have_count(1, timeout=WITHIN_A_SECOND)
        states = page.evaluate("states")   # one at least for each rollover's data-streams change
        assert states and set(states) == {"live"}
        assert "reconnecting" not in page.inner_text("body")
        page.goto("about:blank")
    finally:
        context.close()
        server.stop()


def test_a_restart_with_the_live_view_open_is_quick_and_the_page_comes_back(browser, home):
    server = Server("rest", home, TEST_ENV, tls=False)
    context = browser.new_context(viewport=PROJECTOR)
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.port}/live")
        status = page.locator("#status")
        expect(status).to_have_attribute("data-state", "live")
        started = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        expect(status).to_have_attribute("data-state", "stopped", timeout=2000)
        expect(status).to_contain_text("server stopped")
        server.stop()
        stopped = time.monotonic() - started
        # Held by the page's stream, the server would stop only at gunicorn's graceful timeout (10 s).
        assert stopped < 5, f"the server took {stopped:.1f} s to stop with /live open"
        again = Server("rest", home, TEST_ENV, tls=False, port=server.port)
        try:
            expect(status).to_have_attribute("data-state", "live", timeout=10_000)
        finally:
            page.goto("about:blank")
            again.stop()
    finally:
        context.close()
        server.stop()


def test_without_chromium_the_browser_tests_are_skipped_with_the_install_command(tmp_path):
    with pytest.warns(UserWarning, match="apt-get install -y chromium"), pytest.raises(pytest.skip.Exception):
        require_chromium(tmp_path / "chromium")
