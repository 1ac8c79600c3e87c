"""Schemathesis over the service's OpenAPI schema: whatever it sends, no server error.

It runs three times: unsigned (every call must stop at authentication), and signed as a registered
verifier and as a registered owner, so generated bodies and parameters reach the handlers. Signing
is done by a test-only ASGI wrapper that signs each request as it arrives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from tests.service.conftest import new_owner, new_verifier

from bioveil.service.app import ServiceSettings, create_app
from bioveil.service.auth import sign_request


class SigningApp:
    """Wrap an ASGI app so every HTTP request arrives signed by ``signer`` (None: untouched)."""

    def __init__(self, app: Any) -> None:
        self.app, self.signer = app, None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.signer is None:
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        principal, key = self.signer
        headers = sign_request(key, principal, scope["method"], target, body)
        scope = dict(scope, headers=[*scope["headers"], *((k.encode(), v.encode()) for k, v in headers.items())])

        async def replay() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        return await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def signing_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningApp, dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("schema")
    app = create_app(ServiceSettings(database=f"sqlite:///{folder / 'v.db'}", key_file=folder / "k.pem",
                                     verify_rate=1000, verify_burst=1000))
    with TestClient(app) as client:
        owner, verifier = new_owner(client), new_verifier(client)
    return SigningApp(app), {"verifier": (verifier.id, verifier.key), "owner": (owner.id, owner.key), "nobody": None}


@pytest.mark.parametrize("caller", ["nobody", "verifier", "owner"])
def test_no_server_error(signing_app: tuple[SigningApp, dict[str, Any]], caller: str) -> None:
    """Each operation with generated cases (schemathesis' pytest plugin does not run on pytest 9: driven by hand)."""
    app, signers = signing_app
    app.signer = signers[caller]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck))
        def fuzz(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

        fuzz()
