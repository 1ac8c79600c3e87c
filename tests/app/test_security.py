"""The app's guard, from outside: the secret, the Host check (DNS rebinding), the Origin check (CSRF),
the Content-Security-Policy, and the schema behind the secret like everything else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.running import Running, running_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.mark.parametrize("path", ["/", "/api/state", "/api/openapi.json", "/static/app.js", "/api/events", "/nowhere"])
def test_without_the_secret_everything_is_refused(app: Running, path: str) -> None:
    response = httpx.get(app.base + path)
    assert response.status_code == 403
    assert "secret" in response.text


def test_the_secret_in_the_url_becomes_a_strict_httponly_cookie(app: Running) -> None:
    response = httpx.get(f"{app.base}/?token={app.secret}")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert f"bioveil_app={app.secret}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert httpx.get(f"{app.base}/?token=wrong{app.secret}").status_code == 403
    page = httpx.get(app.base + "/", cookies={"bioveil_app": app.secret})
    assert page.status_code == 200 and "<title>bioveil</title>" in page.text


def test_a_foreign_host_is_refused_even_with_the_secret(app: Running) -> None:
    for host in ("evil.example", f"evil.example:{app.port}", f"127.0.0.1:{app.port + 1}", "localhost"):
        response = httpx.get(app.base + "/api/state", cookies={"bioveil_app": app.secret}, headers={"host": host})
        assert response.status_code == 403, host
    assert httpx.get(app.base + "/api/state", cookies={"bioveil_app": app.secret},
                     headers={"host": f"localhost:{app.port}"}).status_code == 200


def test_a_change_from_another_origin_is_refused(app: Running) -> None:
    cookies = {"bioveil_app": app.secret}
    body = {"method": "pixelate", "shape": "box"}
    for origin in (None, "http://evil.example", f"http://127.0.0.1:{app.port + 1}", "null"):
        headers = {} if origin is None else {"origin": origin}
        response = httpx.put(app.base + "/api/settings", json=body, cookies=cookies, headers=headers)
        assert response.status_code == 403, origin
    assert app.state.settings.method == "blur"  # nothing changed
    with app.client() as client:
        assert client.put("/api/settings", json=body).status_code == 200
        assert app.state.settings.method == "pixelate"
        client.put("/api/settings", json={"method": "blur", "shape": "ellipse"})


def test_every_answer_carries_a_csp_that_allows_only_the_app(app: Running) -> None:
    with app.client() as client:
        for path in ("/", "/static/app.js", "/api/state", "/api/openapi.json"):
            policy = client.get(path).headers["content-security-policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert "http" not in policy and "*" not in policy  # no host outside the app's origin
    refused = httpx.get(app.base + "/")
    assert "content-security-policy" in refused.headers


def test_the_schema_is_served_behind_the_secret(app: Running) -> None:
    with app.client() as client:
        schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "bioveil app"
    assert {"/api/items", "/api/export", "/api/scan", "/api/state"} <= set(schema["paths"])


def test_the_page_loads_nothing_from_outside(app: Running) -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "bioveil" / "app" / "static"
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".css", ".js"}:
            text = path.read_text()
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
