"""`namelstm serve`: every endpoint and error over real HTTP on loopback, a bounded load test,
and the page driven in headless Chromium."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from namelstm.predict import Predictor, pretrained_path
from namelstm.serve import MAX_BODY_BYTES, MAX_NAMES, make_server


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    instance = make_server(Predictor.load("pretrained"), "127.0.0.1", 0, quiet=True)  # a free port
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance.server_address[:2]
    instance.shutdown()
    instance.server_close()


def request(
    server: tuple[str, int],
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, str]:
    connection = http.client.HTTPConnection(*server, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        content_type = response.getheader("Content-Type", "")
        return response.status, json.loads(raw) if "json" in content_type else raw.decode(), content_type
    finally:
        connection.close()


def test_health(server: tuple[str, int]) -> None:
    status, body, _ = request(server, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and len(body["languages"]) == 18
    card = json.loads((pretrained_path().parent / "card.json").read_text())
    assert body["checkpoint"] == "pretrained" and body["model"] == card["model"]
    assert body["members"] == card["members"] and "test accuracy" in body["description"]
    assert body["tau"] == card["calibration"]["tau"]


def test_get_predict(server: tuple[str, int]) -> None:
    status, body, _ = request(server, "GET", "/predict?name=Nakamura&top_k=2")
    assert status == 200
    assert body[0]["name"] == "Nakamura" and len(body[0]["predictions"]) == 2
    assert body[0]["predictions"][0]["language"] == "Japanese"
    status, body, _ = request(
        server, "GET", "/predict?name=%D0%94%D0%BE%D1%81%D1%82%D0%BE%D0%B5%D0%B2%D1%81%D0%BA%D0%B8%D0%B9"
    )
    assert status == 200 and body[0]["seen_as"] == "Dostoevskiy"


def test_post_predict_list_and_object(server: tuple[str, int]) -> None:
    status, body, _ = request(server, "POST", "/predict", json.dumps(["Dostoevsky", "Rossi"]).encode())
    assert status == 200 and [r["predictions"][0]["language"] for r in body] == ["Russian", "Italian"]
    status, body, _ = request(
        server, "POST", "/predict", json.dumps({"names": ["Rossi"], "top_k": 5}).encode()
    )
    assert status == 200 and len(body[0]["predictions"]) == 5


def test_the_page(server: tuple[str, int]) -> None:
    status, body, content_type = request(server, "GET", "/")
    assert status == 200 and content_type.startswith("text/html") and 'id="name"' in body


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/predict", None, 400, "missing query parameter 'name'"),
        ("GET", "/predict?name=12345", None, 400, "has no letters"),
        ("GET", "/predict?name=Li&top_k=0", None, 400, "top_k must be a whole number from 1 to 18"),
        ("GET", "/predict?name=Li&top_k=x", None, 400, "top_k"),
        ("GET", "/nowhere", None, 404, "no such page"),
        ("POST", "/predict", b"not json", 400, "not JSON"),
        ("POST", "/predict", b'{"names": "Li"}', 400, "send a JSON list"),
        ("POST", "/predict", b"[1, 2]", 400, "names must be strings"),
        ("POST", "/predict", b"[]", 400, "at least one name"),
        (
            "POST",
            "/predict",
            json.dumps(["Li"] * (MAX_NAMES + 1)).encode(),
            413,
            f"at most {MAX_NAMES} names",
        ),
        (
            "POST",
            "/predict",
            b"[" + b'"Li",' * (MAX_BODY_BYTES // 5) + b'"Li"]',
            413,
            "the body may be at most",
        ),
        ("POST", "/health", b"[]", 404, "POST goes to /predict"),
    ],
)
def test_bad_requests_get_a_4xx_json_error(
    server: tuple[str, int], method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    got, answer, content_type = request(server, method, path, body)
    assert got == status and "json" in content_type
    assert message in answer["error"]


@pytest.mark.slow
def test_2000_requests_from_8_threads_all_answered_right(server: tuple[str, int]) -> None:
    names = ["Nakamura", "Dostoevsky", "Rossi", "Papadopoulos", "Tanaka"]
    expected = {p.name: p.predictions[0][0] for p in Predictor.load("pretrained").predict(names, top_k=1)}

    def worker(k: int) -> int:
        connection = http.client.HTTPConnection(*server, timeout=30)
        good = 0
        for i in range(250):
            name = names[(k + i) % len(names)]
            if i % 2:
                connection.request("GET", f"/predict?name={name}&top_k=1")
            else:
                connection.request("POST", "/predict", body=json.dumps([name]).encode())
            response = connection.getresponse()
            body = json.loads(response.read())
            good += response.status == 200 and body[0]["predictions"][0]["language"] == expected[name]
        connection.close()
        return good

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) == 2000


def test_the_page_in_headless_chromium(server: tuple[str, int], tmp_path: Path) -> None:
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("no headless browser here: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=chromedriver))
    try:
        driver.get(f"http://{server[0]}:{server[1]}/")
        driver.find_element(By.ID, "name").send_keys("Nakamura")
        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .lang"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#results .row")
        assert rows[0].find_element(By.CLASS_NAME, "lang").text == "Japanese"
        assert rows[0].find_element(By.CLASS_NAME, "pct").text.endswith("%")
        assert len(rows) == 5
        driver.get(f"http://{server[0]}:{server[1]}/?name=Rossi")  # a link that names a name
        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .lang"))
        assert driver.find_element(By.ID, "name").get_attribute("value") == "Rossi"
        assert driver.find_element(By.CSS_SELECTOR, "#results .lang").text == "Italian"
        driver.get(
            f"http://{server[0]}:{server[1]}/?name=%D0%9A%D1%83%D0%B7%D0%BD%D0%B5%D1%86%D0%BE%D0%B2%D0%B0"
        )
        WebDriverWait(driver, 15).until(lambda d: "Cyrillic script" in d.find_element(By.ID, "seen").text)
        assert "Kuznetsova" in driver.find_element(By.ID, "seen").text  # as the CLI: read as ...; script
        assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results .lang")] == ["Russian"]
    finally:
        driver.quit()
