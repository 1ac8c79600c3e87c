"""A vault service per test, on SQLite and on PostgreSQL, with real owners' faces from LFW.

PostgreSQL runs where $BIOVEIL_POSTGRES_URL names a server (``make test`` starts Debian's PostgreSQL
on loopback and sets it). Without it the PostgreSQL cases skip on a developer's machine and fail
under BIOVEIL_REQUIRE_DATA=1 (CI), like the tests that need the real data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from bioveil.agora.verifier import Verifier
from bioveil.service import db
from bioveil.service.app import ServiceSettings, create_app
from bioveil.vault.crypto import KdfParams
from bioveil.vault.owner import Owner

# Argon2id at its smallest allowed cost: the tests check the protocol, not the passphrase's strength.
TEST_KDF = KdfParams(iterations=1, memory_kib=8 * 1024, lanes=1)
PASSPHRASE = "correct horse battery staple"
OWNER_PERSON, OTHER_PERSON = "Colin_Powell", "Hugo_Chavez"


def _postgres_url() -> str | None:
    url = os.environ.get("BIOVEIL_POSTGRES_URL")
    if url:
        return url
    message = "PostgreSQL not available: set BIOVEIL_POSTGRES_URL (make test starts one)"
    if os.environ.get("BIOVEIL_REQUIRE_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vault.db'}"
        return
    url = _postgres_url()
    assert url is not None
    engine = db.connect(url)
    db.metadata.drop_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def settings(database: str, tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(database=database, key_file=tmp_path / "service_key.pem", verify_rate=1000, verify_burst=1000)


@pytest.fixture
def service(settings: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def photos(data: Path) -> dict[str, list[Path]]:
    people = data / "lfw" / "identities"
    return {name: sorted((people / name).glob("*.jpg")) for name in (OWNER_PERSON, OTHER_PERSON)}


def new_owner(service: TestClient) -> Owner:
    return Owner.create("http://testserver", PASSPHRASE, http=service, kdf=TEST_KDF)


def new_verifier(service: TestClient, name: str = "Gate 4, City Stadium") -> Verifier:
    return Verifier.create("http://testserver", name, http=service)


def granted(service: TestClient, photos: dict[str, list[Path]], uses: int = 5) -> tuple[Owner, Verifier, str]:
    """An enrolled owner, a verifier holding a collected grant, and the grant's id."""
    owner, verifier = new_owner(service), new_verifier(service)
    owner.enrol(photos[OWNER_PERSON][:3])
    request = verifier.ask(owner.id, "entry to the stadium on match days", days=30, uses=uses, offer="skip the queue")
    grant = owner.accept(request["id"])
    verifier.collect()
    return owner, verifier, grant["id"]
