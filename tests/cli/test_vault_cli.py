"""The vault commands end to end: a real `bioveil serve` on loopback, an owner and a verifier in their own files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

BIOVEIL = str(Path(sys.executable).with_name("bioveil"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([BIOVEIL, "serve", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'vault.db'}",
                                "--key-file", str(tmp_path / "key.pem"), "--face-workers", "1", "--waiting-checks", "4"],
                               stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def run(*args: str, identity: Path, expect: int = 0) -> str:
    env = dict(os.environ, BIOVEIL_PASSPHRASE="a long passphrase of several words")
    done = subprocess.run([BIOVEIL, *args, "--identity", str(identity)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == expect, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.mark.data
def test_owner_and_verifier_from_the_command_line(server: str, tmp_path: Path, data: Path) -> None:
    me, verifier = tmp_path / "owner.json", tmp_path / "verifier.json"
    photos = sorted((data / "lfw" / "identities" / "Colin_Powell").glob("*.jpg"))
    stranger = data / "lfw" / "identities" / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg"
    owner_id = run("vault", "create", "--url", server, identity=me).split()[1]
    assert oct(me.stat().st_mode & 0o777) == "0o600"
    run("vault", "enrol", *map(str, photos[:3]), identity=me)
    run("agora", "register", "City Stadium", "--url", server, identity=verifier)
    run("agora", "ask", owner_id, "--purpose", "entry on match days", "--days", "30", "--uses", "5", identity=verifier)
    (request,) = json.loads(run("vault", "requests", identity=me))
    policy = tmp_path / "policy.toml"
    policy.write_text(f'max_days = 60\naccept_from = ["{request["verifier_id"]}"]\n')
    assert "accept" in run("vault", "review", "--policy", str(policy), identity=me)
    run("agora", "collect", identity=verifier)
    (grant,) = json.loads(run("vault", "grants", identity=me))
    yes = json.loads(run("agora", "check", grant["id"], str(photos[4]), identity=verifier))
    no = json.loads(run("agora", "check", grant["id"], str(stranger), identity=verifier, expect=1))
    assert yes["decision"] is True and no["decision"] is False
    assert json.loads(run("agora", "receipt", yes["receipt"], identity=verifier))["decision"] is True
    assert "ledger of 5 entries verified (first audit)" in run("vault", "audit", identity=me)
    run("vault", "revoke", grant["id"], identity=me)
    run("agora", "check", grant["id"], str(photos[4]), identity=verifier, expect=1)
    assert "ledger of 7 entries verified (consistent with the 5 audited before)" in run("vault", "audit", identity=me)


def test_wrong_passphrase_is_a_named_error(server: str, tmp_path: Path) -> None:
    me = tmp_path / "owner.json"
    run("vault", "create", "--url", server, identity=me)
    env = dict(os.environ, BIOVEIL_PASSPHRASE="not the passphrase")
    done = subprocess.run([BIOVEIL, "vault", "grants", "--identity", str(me)], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "wrong passphrase" in done.stderr


def test_serve_refuses_check_limits_below_one(tmp_path: Path) -> None:
    for flag in ("--face-workers", "--waiting-checks"):
        done = subprocess.run([BIOVEIL, "serve", "--database", f"sqlite:///{tmp_path / 'v.db'}", flag, "0"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "at least 1" in done.stderr, (flag, done.stderr)
