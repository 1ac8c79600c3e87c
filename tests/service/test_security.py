"""Attacks on the service: no authentication, other people's objects, replays, races, bad grants, floods."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tests.service.conftest import OWNER_PERSON, granted, new_owner, new_verifier

from bioveil.errors import InvalidOptionError
from bioveil.service import checks
from bioveil.service.app import ServiceSettings, create_app
from bioveil.service.auth import sign_request
from bioveil.vault.crypto import b64d, b64e, principal_id, public_bytes
from bioveil.vault.errors import ServiceError
from bioveil.vault.grants import Grant, open_grant, sign_grant


def test_every_endpoint_refuses_unsigned_and_badly_signed_calls(service: TestClient) -> None:
    stranger = Ed25519PrivateKey.generate()
    routes = [(method, route.path) for route in service.app.routes
              if route.path not in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
              for method in getattr(route, "methods", ()) if method not in ("HEAD", "OPTIONS")]
    assert len(routes) >= 18
    newcomer = b64e(public_bytes(Ed25519PrivateKey.generate().public_key()))
    registrations = {  # well-formed bodies: registration must fail on the signature, not the body
        "/owners": {"public_key": newcomer, "kdf_salt": b64e(bytes(16)), "kdf_iterations": 1, "kdf_memory_kib": 8192,
                    "kdf_lanes": 1},
        "/verifiers": {"name": "x", "public_key": newcomer, "box_key": newcomer},
    }
    for method, path in routes:
        target = path.replace("{owner_id}", "own_aaaaaaaaaaaaaaaaaaaa").replace("{request_id}", "req_0")
        target = target.replace("{grant_id}", "gr_0")
        target += "?old=0&new=0" if path.endswith("consistency") else "?seq=0&size=1" if path.endswith("inclusion") else ""
        body = json.dumps(registrations.get(path, {})).encode()
        plain = {"content-type": "application/json"}
        assert service.request(method, target, content=body, headers=plain).status_code == 401, (method, path)
        for principal in ("ver_unknownunknownunkn", principal_id("own", b64d(newcomer))):
            headers = {**plain, **sign_request(stranger, principal, method, target, body)}
            assert service.request(method, target, content=body, headers=headers).status_code == 401, (method, path)


def test_replayed_request_is_refused(service: TestClient) -> None:
    verifier = new_verifier(service)
    headers = sign_request(verifier.key, verifier.id, "GET", "/requests", b"")
    assert service.get("/requests", headers=headers).status_code == 200
    assert service.get("/requests", headers=headers).status_code == 401
    edited = dict(headers, **{"x-bioveil-nonce": b64e(b"0123456789abcdef")})  # a new nonce without a new signature
    assert service.get("/requests", headers=edited).status_code == 401


@pytest.mark.data
def test_nobody_reads_or_touches_another_ones_objects(service: TestClient, photos: dict[str, list[Path]]) -> None:
    owner_a, verifier_a, grant_a = granted(service, photos)
    owner_b, verifier_b = new_owner(service), new_verifier(service, "another verifier")
    request_a = owner_a.requests(None)[0]["id"]
    for caller, method, path in [
        (owner_b, "GET", f"/owners/{owner_a.id}"),
        (owner_b, "GET", f"/owners/{owner_a.id}/enrolment"),
        (owner_b, "GET", f"/requests/{request_a}"),
        (owner_b, "POST", f"/requests/{request_a}/decline"),
        (owner_b, "GET", f"/grants/{grant_a}"),
        (owner_b, "GET", f"/grants/{grant_a}/keys"),
        (owner_b, "POST", f"/grants/{grant_a}/revoke"),
        (verifier_b, "GET", f"/requests/{request_a}"),
        (verifier_b, "GET", f"/grants/{grant_a}"),
    ]:
        with pytest.raises(ServiceError) as error:
            caller.client.call(method, path)
        assert error.value.status == 404, (method, path)
    with pytest.raises(ServiceError) as error:  # an owner cannot enrol into someone else's vault
        owner_b.client.call("PUT", f"/owners/{owner_a.id}/enrolment", {"recognizer": "sface", "transform": "biohash",
                                                                          "photos": 3, "template": "AA", "wrapped_key": "AA"})
    assert error.value.status == 404
    for caller in (verifier_b, owner_b):
        assert caller.client.call("GET", "/grants") == []
        assert caller.client.call("GET", "/requests") == []
    with pytest.raises(ServiceError) as error:  # a verifier cannot act as an owner
        verifier_a.client.call("POST", f"/grants/{grant_a}/revoke")
    assert error.value.status == 403
    assert owner_a.grants()[0]["revoked"] is False


def _refusals(service: TestClient, photos: dict[str, list[Path]]) -> dict[str, dict]:
    """One check for each way a grant can fail, all with the owner's own face."""
    owner, verifier, grant_id = granted(service, photos, uses=2)
    photo = photos[OWNER_PERSON][4].read_bytes()
    held = verifier.identity.grants[grant_id]
    claims = open_grant(held["token"], owner.key.public_key(), audience=verifier.id)
    forger = Ed25519PrivateKey.generate()

    def check(token: str, capability: str = held["capability"], who=verifier) -> dict:  # type: ignore[no-untyped-def]
        return who.client.call("POST", "/verify", {"token": token, "capability": capability, "photo": b64e(photo)})

    def resigned(**changes) -> str:  # type: ignore[no-untyped-def]
        fields = {**claims.__dict__, **changes}
        return sign_grant(Grant(**fields), owner.key)

    past = datetime.now(UTC) - timedelta(days=3)
    answers = {
        "valid": check(held["token"]),
        "forged": check(sign_grant(claims, forger)),
        "expired": check(resigned(not_before=past, expires=past + timedelta(days=1))),
        "wrong audience": check(held["token"], who=new_verifier(service, "eavesdropper")),
        "wrong capability": check(held["token"], capability=b64e(b"\1" * 32)),
    }
    answers["valid again"] = check(held["token"])
    answers["exhausted"] = check(held["token"])
    owner.revoke(grant_id)
    answers["revoked"] = check(held["token"])
    return answers


@pytest.mark.data
def test_every_refusal_looks_like_a_no(service: TestClient, photos: dict[str, list[Path]]) -> None:
    answers = _refusals(service, photos)
    assert answers["valid"]["decision"] is True and answers["valid again"]["decision"] is True
    refused = {name: answer for name, answer in answers.items() if not name.startswith("valid")}
    assert len(refused) == 6
    for name, answer in refused.items():
        assert answer["decision"] is False, name
        assert set(answer) == {"decision", "receipt"}, name
        receipt = json.loads(b64d(answer["receipt"].split(".")[0]))
        assert set(receipt) == {"decision", "grant", "leaf", "nonce", "seq", "time", "verifier"}, name
        assert receipt["grant"].startswith("sha256:"), name


@pytest.mark.data
def test_race_on_the_last_use_gives_one_check(service: TestClient, photos: dict[str, list[Path]]) -> None:
    owner, verifier, grant_id = granted(service, photos, uses=1)
    photo = photos[OWNER_PERSON][4].read_bytes()
    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda _: verifier.check(grant_id, photo).decision, range(8)))
    assert sum(decisions) == 1, decisions
    assert owner.grants()[0]["uses_left"] == 0


@pytest.mark.data
def test_checks_run_their_face_networks_at_most_face_workers_at_once(
        settings: ServiceSettings, photos: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    real, running, most = checks.probe_embedding, [0], {}
    lock, bound = threading.Lock(), {"workers": 0}

    def counted(photo: bytes, recognizer: str = "sface") -> object:
        with lock:
            running[0] += 1
            most[bound["workers"]] = max(most.get(bound["workers"], 0), running[0])
        try:
            time.sleep(0.05)  # so that unbounded checks would overlap
            return real(photo, recognizer)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(checks, "probe_embedding", counted)
    photo = photos[OWNER_PERSON][4].read_bytes()
    for workers in (1, 4):
        bound["workers"] = workers
        with TestClient(create_app(replace(settings, face_workers=workers))) as service:
            _, verifier, grant_id = granted(service, photos, uses=8)
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(verifier.check, [grant_id] * 8, [photo] * 8))
        assert [answer.decision for answer in answers] == [True] * 8
    assert most[1] == 1 and most[4] > 1, most


@pytest.mark.data
def test_a_full_service_refuses_checks_at_once_and_takes_no_use(settings: ServiceSettings,
                                                                 photos: dict[str, list[Path]]) -> None:
    with TestClient(create_app(replace(settings, face_workers=1, waiting_checks=1))) as service:
        owner, verifier, grant_id = granted(service, photos, uses=8)
        photo = photos[OWNER_PERSON][4].read_bytes()

        def attempt(_: int) -> bool | int:
            try:
                return verifier.check(grant_id, photo).decision
            except ServiceError as exc:
                assert "busy" in str(exc)
                return exc.status

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(attempt, range(8)))
        assert set(outcomes) == {True, 503} and outcomes.count(True) >= 1, outcomes
        assert owner.grants()[0]["uses_left"] == 8 - outcomes.count(True)  # a refused check takes no use
        assert verifier.check(grant_id, photo).decision  # once the burst is over, checks go through again


def test_check_limits_below_one_are_refused(tmp_path: Path) -> None:
    for bad in ({"face_workers": 0}, {"waiting_checks": 0}):
        with pytest.raises(InvalidOptionError, match="at least 1"):
            ServiceSettings(database=f"sqlite:///{tmp_path / 'v.db'}", **bad)


def test_checks_are_rate_limited(tmp_path: Path) -> None:
    settings = ServiceSettings(database=f"sqlite:///{tmp_path / 'v.db'}", key_file=tmp_path / "k.pem", verify_rate=0.5,
                               verify_burst=2)
    with TestClient(create_app(settings)) as service:
        verifier = new_verifier(service)
        statuses = []
        for _ in range(4):
            try:
                verifier.client.call("POST", "/verify", {"token": "v4.public.x", "capability": "", "photo": ""})
                statuses.append(200)
            except ServiceError as exc:
                statuses.append(exc.status)
        assert statuses == [200, 200, 429, 429]
        headers = sign_request(verifier.key, verifier.id, "POST", "/verify", b'{"token":"","capability":"","photo":""}')
        headers["content-type"] = "application/json"
        answer = service.post("/verify", content=b'{"token":"","capability":"","photo":""}', headers=headers)
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 1
