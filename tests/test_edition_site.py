"""The rendered edition, opened in a real browser (headless Chromium) page by page.

Run by ``make test``'s ``edition`` step after ``make book`` (tests/run.py), never without a
built site: a missing site or browser is a failure with one sentence, not a skip. Every
page is served over HTTP on 127.0.0.1 (as ``make book-serve`` does) and must load with
its title, render every Mermaid diagram (an SVG, no syntax error), and — for a notebook —
show the outputs of its code cells; every internal link must lead to a page and anchor
that exist. ``EDITION_SCREENSHOTS=DIR`` also saves a 1400-px-wide screenshot of each page.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "book" / "html"
#: Pages of the theme itself, not of the course.
THEME_PAGES = {"genindex.html", "search.html"}
#: Milliseconds of (virtual) time a page gets to run its scripts (Mermaid) before the DOM is read.
BUDGET_MS = "20000"
SLOW_BUDGET_MS = "60000"


def _pages() -> list[Path]:
    pages = SITE.rglob("*.html")
    return sorted(p for p in pages if p.name not in THEME_PAGES and "_static" not in p.parts)


def _browser() -> str:
    for name in ("chromium-headless-shell", "chromium"):
        if found := shutil.which(name):
            return found
    pytest.fail("no headless Chromium here: run .ci/browser/ensure (Debian, root) and retry.")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The built site, served on a free port of 127.0.0.1."""
    if not (SITE / "index.html").is_file():
        pytest.fail("the edition is not built: run `make book` first.")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _rendered(browser: str, url: str, shot: Path | None, budget: str = BUDGET_MS) -> str:
    """The page's DOM once its scripts ran (and a screenshot, if asked)."""
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*common, "--window-size=1400,20000", f"--virtual-time-budget={budget}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout  # fmt: skip  (a browser that failed leaves no DOM: "did not load")
    if shot is not None:
        subprocess.run(
            [*common, "--window-size=1400,2400", f"--virtual-time-budget={BUDGET_MS}",
             f"--screenshot={shot}", url],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
    return dom


_MERMAID = re.compile(r'<pre class="mermaid"[^>]*>(.*?)</pre>', re.S)


def _loaded(page: Path, rel: str, dom: str) -> list[str]:
    """What is wrong with the rendered ``dom`` of ``page``: not loaded, a diagram not drawn."""
    wrong = []
    title = re.search(r"<title>(.*?)</title>", page.read_text(), re.S)
    if "</html>" not in dom or not title or html.unescape(title.group(1).strip()) not in dom:
        wrong.append(f"{rel}: did not load")
    for number, diagram in enumerate(_MERMAID.findall(dom), 1):
        if "<svg" not in diagram or "Syntax error" in diagram:
            wrong.append(f"{rel}: Mermaid diagram {number} did not render")
    return wrong


def test_every_page_loads_with_its_diagrams_and_outputs(site: str) -> None:
    browser = _browser()
    shots = Path(os.environ["EDITION_SCREENSHOTS"]) if "EDITION_SCREENSHOTS" in os.environ else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    pages = _pages()
    assert len(pages) > 20, f"only {len(pages)} pages in {SITE}"

    def check(page: Path) -> list[str]:
        rel = page.relative_to(SITE).as_posix()
        shot = shots / rel.replace("/", "_").replace(".html", ".png") if shots else None
        wrong = _loaded(page, rel, _rendered(browser, f"{site}/{rel}", shot))
        if wrong:  # once more, alone and with more time: a busy machine loads Mermaid slowly
            wrong = _loaded(page, rel, _rendered(browser, f"{site}/{rel}", None, SLOW_BUDGET_MS))
        static = page.read_text()
        cells = static.count('class="cell docutils container') - static.count("tag_remove")
        outputs = static.count('class="cell_output docutils container"')
        if rel.startswith("notebooks/") and cells and outputs < max(1, cells // 5):
            wrong.append(f"{rel}: {outputs} outputs for {cells} code cells (not executed?)")
        return wrong

    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for found in pool.map(check, pages) for p in found]
    assert not problems, "\n".join(problems)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.loads: list[str] = []  # what the page itself loads: scripts, styles, images

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")
        if tag in ("script", "img", "iframe") and values.get("src"):
            self.loads.append(values["src"] or "")
        if tag == "link" and values.get("href") and values.get("rel") != "canonical":
            self.loads.append(values["href"] or "")


@functools.cache
def _parsed(page: Path) -> _Links:
    links = _Links()
    links.feed(page.read_text())
    return links


def test_no_internal_link_is_broken() -> None:
    if not (SITE / "index.html").is_file():
        pytest.fail("the edition is not built: run `make book` first.")
    broken = []
    for page in _pages():
        for href in _parsed(page).hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(SITE)}: {href} (no such file)")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and unquote(parts.fragment) not in _parsed(target).ids
            ):
                broken.append(f"{page.relative_to(SITE)}: {href} (no such anchor)")
    assert not broken, "\n".join(sorted(set(broken))[:40])


def test_no_page_loads_anything_from_another_host() -> None:
    """Offline as built: scripts, styles, images and fonts all come from the site itself."""
    if not (SITE / "index.html").is_file():
        pytest.fail("the edition is not built: run `make book` first.")
    remote = [
        f"{page.relative_to(SITE)}: {url}"
        for page in _pages()
        for url in _parsed(page).loads
        if urlsplit(url).scheme in ("http", "https") or url.startswith("//")
    ]
    # and modules imported by inline scripts (Mermaid's entry point)
    remote += [
        f"{page.relative_to(SITE)}: {found}"
        for page in _pages()
        for found in re.findall(r'import [^;]*? from "((?:https?:)?//[^"]+)"', page.read_text())
    ]
    assert not remote, "\n".join(remote[:20])
