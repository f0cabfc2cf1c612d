"""The documents, each for one reader: a short README, the attendee's sheet (also served at
/handout, and printed by Chromium on at most two A4 pages), the trainer's guide."""
import re

import pytest
import requests
from playwright.sync_api import sync_playwright

from serve.launch import ROOT
from .test_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

DOCS = ROOT / "docs"


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("name", ["handout.md", "trainer.md", "testing.md", "performance.md", "reference.md",
                                  "security.md"])
def test_every_document_the_readme_links_to_is_there(name):
    assert (DOCS / name).exists() and f"docs/{name}" in (ROOT / "README.md").read_text()


def test_the_handout_is_served_from_its_file(rest_server):
    page = requests.get(f"http://127.0.0.1:{rest_server.port}/handout", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Tri-Protocol Playlists: the attendee" in page.text and "<table>" in page.text
    assert "&lt;wsse:UsernameToken&gt;" in page.text      # the envelope of exercise 2, shown as text


def test_the_handout_prints_on_two_a4_pages_at_most(rest_server, tmp_path):
    require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.goto(f"http://127.0.0.1:{rest_server.port}/handout")
            pdf = page.pdf(format="A4", prefer_css_page_size=True)
        finally:
            chromium.close()
    (tmp_path / "handout.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 1 <= pages <= 2, f"{pages} pages: see {tmp_path / 'handout.pdf'}"
