"""A signed HTTP client of the vault service, shared by the owner's and the verifier's commands."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bioveil.service.auth import sign_request
from bioveil.vault.errors import ServiceError

DEFAULT_URL = "http://127.0.0.1:8765"


class ServiceClient:
    """Calls the service as ``principal``, signing each request with ``key``.

    ``http`` is any httpx.Client (a FastAPI TestClient in tests); by default one for ``url``.
    """

    def __init__(self, principal: str, key: Ed25519PrivateKey, url: str = DEFAULT_URL, http: httpx.Client | None = None) -> None:
        self.principal, self.key = principal, key
        self.http = http or httpx.Client(base_url=url, timeout=60)

    def call(self, method: str, path: str, payload: Any = None, **query: Any) -> Any:
        """The JSON answer of one signed request; ServiceError for any refusal, with the service's reason."""
        target = path + (f"?{urlencode(query)}" if query else "")
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = sign_request(self.key, self.principal, method, target, body)
        if payload is not None:
            headers["content-type"] = "application/json"
        try:
            response = self.http.request(method, target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceError(0, f"cannot reach the vault service ({exc}); is `bioveil serve` running?") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServiceError(response.status_code, detail if isinstance(detail, str) else json.dumps(detail))
        return response.json()
