"""The docs site as a reader sees it: built with ``mkdocs build --strict``, served over http on 127.0.0.1
and opened in headless Chromium from Debian's package (``.ci/install dev`` installs it; no browser is
downloaded at run time).

Each page gets a probe script appended (in the temporary build only) that runs after the page's own
scripts and writes what it measured into the DOM, which ``chromium --dump-dom`` returns: how many formulas
KaTeX rendered, the visible text, whether every image loaded and whether every table and displayed formula
fits the page at a 1280 px wide window. The server records every request it could not answer.
Runtime: about 1.5 s per page (10 pages, ~15 s in all on 2 CPU cores), so it runs in the default suite.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# every page of the site, as its Markdown path under docs/ (the vendored assets' README is not built)
PAGES = sorted(
    p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md") if "assets" not in p.parts
)
WINDOW = "1280,2000"
GOOGLE_FONTS = re.compile(r"fonts\.(googleapis|gstatic)\.com")

# Runs at window load plus 500 ms of virtual time (Material's document$ and KaTeX have run by then).
# <pre> and <code> are removed before reading innerText: auto-render leaves code alone by design.
PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const tables = [...document.querySelectorAll("article table")].map((t) => {
    const page = t.closest("article").getBoundingClientRect().right;
    const cells = [...t.querySelectorAll("th, td")];
    return {
      head: t.rows[0] ? t.rows[0].innerText.replace(/\\s+/g, " ").trim() : "",
      overflow_px: Math.max(0, ...cells.map((c) => c.getBoundingClientRect().right - page),
                            t.scrollWidth - t.clientWidth),
    };
  });
  const formulas = [...document.querySelectorAll("article .katex-display > .katex")].map((k) => {
    const page = k.closest("article").getBoundingClientRect().right;
    const drawn = k.querySelector(".katex-html").getBoundingClientRect().right;
    const overflow = Math.max(k.scrollWidth - k.clientWidth, drawn - page);
    return {tex: k.textContent.slice(0, 60), overflow_px: overflow};
  });
  const images = [...document.images].map((i) => ({src: i.getAttribute("src"),
                                                   ok: i.complete && i.naturalWidth > 0}));
  const result = {
    arithmatex: document.querySelectorAll(".arithmatex").length,
    unrendered: [...document.querySelectorAll(".arithmatex")].filter((e) => !e.querySelector(".katex"))
      .map((e) => e.textContent.slice(0, 80)),
    katex: document.querySelectorAll(".katex").length,
    katex_errors: [...document.querySelectorAll(".katex-error")].map((e) => e.textContent.slice(0, 80)),
    images: images,
    tables: tables,
    formulas: formulas,
  };
  document.querySelectorAll("pre, code").forEach((e) => e.remove());
  result.text = document.body.innerText;
  const out = document.createElement("pre");
  out.id = "zoo-probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}, 500));
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "headless Chromium is needed to check the docs site as a reader sees it, and `chromium` is not "
            "on PATH: run `bash .ci/install dev` as root (it installs Debian's `chromium` package) or "
            "`apt-get install chromium`"
        )
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built strictly from this checkout, into a temporary folder."""
    out = tmp_path_factory.mktemp("docs") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, (
        f"`mkdocs build --strict` failed (is the dev extra installed?):\n{done.stderr}"
    )
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[tuple[str, list[str]]]:
    """Base URL of an http server on 127.0.0.1 (a free port) that serves ``site``, and the list it appends
    each failed request to (``"404 /path"``)."""
    failed: list[str] = []
    handler = functools.partial(_RecordingHandler, failed, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", failed
    finally:
        server.shutdown()
        server.server_close()


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves quietly and records every request answered with an error status."""

    def __init__(self, failed: list[str], *args: Any, **kwargs: Any) -> None:
        self.failed = failed
        super().__init__(*args, **kwargs)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 400:  # http.HTTPStatus is an int
            self.failed.append(f"{code} {self.path}")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _rendered(site: Path, base: str, page: str, profile: Path) -> dict:
    """The probe's measurements of ``site/page`` after Chromium ran its scripts."""
    source = site / page
    probed = source.with_name("probed.html")
    probed.write_text(source.read_text().replace("</body>", PROBE + "</body>", 1))
    url = f"{base}/{probed.relative_to(site).as_posix()}"
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--mute-audio",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="zoo-probe">(.*?)</pre>', done.stdout, flags=re.S)
    assert found, f"the probe did not run on {page} (rc {done.returncode}):\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_the_site_loads_nothing_from_other_hosts(site: Path) -> None:
    """No Google Fonts and no CDN: every script, style sheet and font is served from the site itself."""
    remote = []
    for page in site.rglob("*.html"):
        text = page.read_text()
        for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", text):
            if re.search(r"""\b(?:src|href)=["']?(?:https?:)?//""", tag) and 'rel="canonical"' not in tag:
                remote.append(f"{page.relative_to(site)}: {tag}")
        remote += [f"{page.relative_to(site)}: {m}" for m in re.findall(r"@import[^;]*;", text)]
    for sheet in site.rglob("*.css"):
        found = re.findall(r"""url\(\s*["']?(?:https?:)?//[^)]*\)|@import[^;]*;""", sheet.read_text())
        remote += [f"{sheet.relative_to(site)}: {m}" for m in found]
    for path in site.rglob("*"):
        if path.suffix in {".html", ".css", ".js"} and GOOGLE_FONTS.search(path.read_text()):
            remote.append(f"{path.relative_to(site)}: names Google Fonts")
    assert remote == []


def test_no_markdown_list_is_rendered_as_a_paragraph(site: Path) -> None:
    """A list needs a blank line before it in Python-Markdown; without one its items join the paragraph."""
    joined = []
    for page in site.rglob("*.html"):
        for para in re.findall(r"<p>(.*?)</p>", page.read_text(), flags=re.S):
            if re.search(r"\n\s*(?:[-*+]|\d+\.)\s", para):
                joined.append(f"{page.relative_to(site)}: {para[:120]}")
    assert joined == []


def test_the_vendored_katex_is_complete() -> None:
    """Every font the vendored style sheet names is shipped, with the licence."""
    katex = ROOT / "docs" / "assets" / "katex"
    fonts = re.findall(r"url\(([^)]+)\)", (katex / "katex.min.css").read_text())
    assert len(fonts) == 20 and all(f.endswith(".woff2") for f in fonts), fonts
    assert [f for f in fonts if not (katex / f).is_file()] == []
    assert "MIT License" in (katex / "LICENSE").read_text()


@pytest.mark.parametrize("source", PAGES)
def test_a_page_renders_in_chromium(
    site: Path, served: tuple[str, list[str]], source: str, tmp_path: Path
) -> None:
    """Formulas became KaTeX (every article page has some), no raw ``\\(`` or ``\\[`` shows, every image and
    file loaded, every table and displayed formula fits the page at a 1280 px window."""
    base, failed = served
    page = "index.html" if source == "index.md" else source.removesuffix(".md") + "/index.html"
    spans = len(re.findall(r"""class=["']arithmatex["']""", (site / page).read_text()))
    failed.clear()
    got = _rendered(site, base, page, tmp_path / "profile")
    assert failed == [], f"{source}: requests the site could not answer"
    assert spans > 0 or not source.startswith("articles/"), f"{source}: no formula found (arithmatex)"
    assert got["arithmatex"] == spans
    assert got["unrendered"] == [] and got["katex_errors"] == []
    assert got["katex"] >= spans
    raw = [got["text"][max(0, m.start() - 40) : m.end() + 40] for m in re.finditer(r"\\[(\[]", got["text"])]
    assert raw == [], f"{source}: raw LaTeX in the visible text"
    assert [i["src"] for i in got["images"] if not i["ok"]] == []
    clipped = [t for t in got["tables"] if t["overflow_px"] > 1]
    assert clipped == [], f"{source}: tables wider than the page at a {WINDOW} window"
    assert [f for f in got["formulas"] if f["overflow_px"] > 1] == [], (
        f"{source}: formulas wider than the page"
    )
