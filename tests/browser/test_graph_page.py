"""The graph page in headless Chromium against a real API server (uvicorn on a free port, in a
thread of this process) over the real embedded ArcadeDB: enter a key, search, see the ego network drawn, click
through to a neighbour on the canvas and in the side panel; checks the pixels drawn.

Set GROUNDSWELL_UPDATE_SCREENSHOT=1 to refresh docs/graph-page.png from this run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr

from api.app import create_api
from graph.arcadedb_server import free_port
from graph.store import GraphStore
from tests.fixtures.graph import GraphUnderTest, wipe
from tests.fixtures.social_graph import CRM_ID, CUST, CUST_PERSON, FANS, LONER, STAR, seed_social_graph

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CYTOSCAPE = REPO / "web" / "node_modules" / "cytoscape" / "dist" / "cytoscape.min.js"
ADMIN_KEY = "browser-test-admin-" + "k" * 24
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: the page's colours by kind (api/web/app.js)
COLOURS = {
    "company": (0xD6, 0x27, 0x28),
    "customer": (0x2C, 0xA0, 0x2C),
    "influencer": (0xFF, 0x7F, 0x0E),
    "account": (0x1F, 0x77, 0xB4),
    "person": (0x94, 0x67, 0xBD),
}

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed at /usr/bin/chromium (make browser)", allow_module_level=True
    )


def _http(url: str, method: str = "GET", body: dict[str, Any] | None = None, key: str = "") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if key:
        req.add_header("X-API-Key", key)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(embedded_graph: GraphUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CYTOSCAPE.is_file(), "cytoscape is not installed: run `make` (npm ci in web/)"

    async def seed() -> None:
        async with await GraphStore.connect(embedded_graph.settings) as store:
            await store.setup()
            await wipe(store)
            await seed_social_graph(store)

    asyncio.run(seed())
    data_dir = tmp_path_factory.mktemp("api-server")
    port = free_port()
    settings = embedded_graph.settings.model_copy(
        update={"data_dir": data_dir, "api_port": port, "api_admin_key": SecretStr(ADMIN_KEY)}
    )
    config = uvicorn.Config(create_api(settings), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:  # ready for this test once the graph answers (no broker runs here: 503 otherwise)
                ready = _http(base + "/readyz")
            except urllib.error.HTTPError as exc:
                ready = json.loads(exc.read())
            except OSError:
                ready = {}
            if ready.get("checks", {}).get("graph") == "ok":
                break
            assert thread.is_alive(), "the API server stopped"
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.1)
        yield base
    finally:
        uv.should_exit = True
        thread.join(20)


def _pixels(page: Any, node_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """The colour drawn at the centre of each node, read back from Cytoscape's own rendering."""
    got = page.evaluate(
        """async (ids) => {
            const cy = window.groundswell.cy;
            const img = new Image();
            img.src = cy.png({ full: false, bg: "#ffffff" });
            await img.decode();
            const c = document.createElement("canvas");
            c.width = img.width; c.height = img.height;
            const ctx = c.getContext("2d");
            ctx.drawImage(img, 0, 0);
            const scale = img.width / cy.width();
            const out = {};
            for (const id of ids) {
                const p = cy.getElementById(id).renderedPosition();
                const d = ctx.getImageData(Math.round(p.x * scale), Math.round(p.y * scale), 1, 1).data;
                out[id] = [d[0], d[1], d[2]];
            }
            return out;
        }""",
        node_ids,
    )
    return {k: (v[0], v[1], v[2]) for k, v in got.items()}


def _close(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 6 for x, y in zip(a, b, strict=True))


def test_search_draw_and_click_through(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    new_key = {"name": "browser", "role": "marketer"}
    marketer = _http(server + "/admin/keys", "POST", new_key, ADMIN_KEY)["key"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/ui/#key={marketer}")
            expect(page.get_by_test_id("who")).to_have_text("browser (marketer)")
            assert "key=" not in page.url  # the key left the address bar

            page.fill("#q", "star")
            page.click("#search-form button")
            expect(page.locator("body")).to_have_attribute("data-center", STAR.id)
            drawn = page.evaluate("window.groundswell.cy.nodes().map(n => n.id())")
            assert STAR.id in drawn and "acme" in drawn and FANS[0].id in drawn
            assert len(drawn) == int(page.locator("body").get_attribute("data-drawn") or 0)
            sizes = page.evaluate(
                "ids => ids.map(id => window.groundswell.cy.getElementById(id).width())",
                [STAR.id, FANS[0].id],
            )
            assert sizes[0] > sizes[1]  # sized by influence: the star outweighs a fan
            colours = _pixels(page, [STAR.id, "acme", FANS[0].id])
            assert _close(colours[STAR.id], COLOURS["influencer"]), colours
            assert _close(colours["acme"], COLOURS["company"]), colours
            assert _close(colours[FANS[0].id], COLOURS["account"]), colours
            page.screenshot(path=str(tmp_path / "star.png"))

            # click through on the canvas: the company node becomes the centre
            box = page.locator("#cy").bounding_box()
            assert box is not None
            pos = page.evaluate("window.groundswell.cy.getElementById('acme').renderedPosition()")
            page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
            expect(page.locator("body")).to_have_attribute("data-center", "acme")
            assert CUST.id in page.evaluate("window.groundswell.cy.nodes().map(n => n.id())")
            shot = tmp_path / "graph-page.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("GROUNDSWELL_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(shot, REPO / "docs" / "graph-page.png")

            # and through the side panel: from the company to the customer
            page.locator(f"#neighbours button[data-id='{CUST.id}']").click()
            expect(page.locator("body")).to_have_attribute("data-center", CUST.id)
            drawn = page.evaluate("window.groundswell.cy.nodes().map(n => n.id())")
            assert CUST_PERSON in drawn and CRM_ID in drawn
            colours = _pixels(page, [CUST.id, CUST_PERSON])
            assert _close(colours[CUST.id], COLOURS["customer"]), colours
            assert _close(colours[CUST_PERSON], COLOURS["customer"]), colours
            page.screenshot(path=str(tmp_path / "customer.png"))

            # an account alone: fitted no larger than twice its size (it filled the canvas, its label
            # 40 px high, before the page capped the zoom)
            page.fill("#q", "loner")
            page.click("#search-form button")
            expect(page.locator("body")).to_have_attribute("data-center", LONER.id)
            assert page.evaluate("window.groundswell.cy.zoom()") <= 2.0

            # a wrong key is refused, and the page says so
            page.fill("#key", "gsk_wrong")
            page.click("#key-form button")
            expect(page.get_by_test_id("status")).to_contain_text("401")
            assert errors == []
        finally:
            browser.close()
