"""``bioveil serve``, ``bioveil vault`` (owners) and ``bioveil agora`` (verifiers).

The passphrase comes from $BIOVEIL_PASSPHRASE when set (for scripts), else from a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from bioveil.service.client import DEFAULT_URL

EPILOG_CHECK = "Exit codes: 0 the check said yes, 1 it said no, 2 an error."


def _identity_path(args: argparse.Namespace, name: str) -> Path:
    from bioveil.vault.identity import default_dir

    return args.identity or default_dir() / name


def _taken(path: Path, what: str) -> bool:
    if path.exists():
        print(f"bioveil: {path} already holds a {what} identity; pass --identity for another", file=sys.stderr)
    return path.exists()


def _passphrase(confirm: bool = False) -> str:
    if os.environ.get("BIOVEIL_PASSPHRASE"):
        return os.environ["BIOVEIL_PASSPHRASE"]
    first = getpass.getpass("vault passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        from bioveil.vault.errors import VaultError

        raise VaultError("the two passphrases differ; nothing was created")
    return first


def _show(value: Any) -> None:
    print(json.dumps(value, indent=1, default=str))


# -- serve ------------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bioveil.concurrency import one_thread_per_task
    from bioveil.service.app import ServiceSettings, create_app

    settings = ServiceSettings(database=args.database, key_file=args.key_file, verify_rate=args.verify_rate,
                               verify_burst=args.verify_burst, face_workers=args.face_workers,
                               waiting_checks=args.waiting_checks)
    # Checks run side by side, one per thread: libraries' own thread pools per check only make them fight.
    one_thread_per_task()

    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(f"bioveil: serving on {args.host}: put TLS in front (a reverse proxy); requests are signed, not encrypted",
              file=sys.stderr)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


# -- owners -----------------------------------------------------------------------------------------


def _owner(args: argparse.Namespace) -> Any:
    from bioveil.vault.identity import OwnerIdentity
    from bioveil.vault.owner import Owner

    return Owner(OwnerIdentity.load(_identity_path(args, "owner.json")), _passphrase())


def run_vault(args: argparse.Namespace) -> int:
    from bioveil.vault.audit import audit
    from bioveil.vault.owner import Owner, Policy

    path = _identity_path(args, "owner.json")
    if args.action == "create":
        if _taken(path, "vault"):
            return 2
        owner = Owner.create(args.url, _passphrase(confirm=True))
        owner.identity.save(path)
        print(f"vault {owner.id} created; identity saved to {path} (back it up: it holds your sealed key)")
        return 0
    owner = _owner(args)
    if args.action == "enrol":
        _show(owner.enrol(args.photos, recognizer=args.recognizer))
    elif args.action == "requests":
        _show(owner.requests(None if args.all else "pending"))
    elif args.action == "accept":
        _show(owner.accept(args.request, photos=args.photos or None, days=args.days, uses=args.uses))
    elif args.action == "decline":
        _show(owner.decline(args.request))
    elif args.action == "review":
        policy = Policy.load(args.policy)
        for request in owner.requests("pending"):
            decision = policy.decide(request)
            if decision == "accept":
                owner.accept(request["id"])
            elif decision == "decline":
                owner.decline(request["id"])
            print(f"{request['id']} from {request['verifier_name']} ({request['purpose'][:60]!r}): {decision}")
    elif args.action == "grants":
        _show(owner.grants())
    elif args.action == "revoke":
        _show(owner.revoke(args.grant))
    elif args.action == "rotate":
        _show(owner.rotate(args.grant, photos=args.photos or None))
    elif args.action == "audit":
        report = audit(owner)
        since = "first audit" if report.previous_size is None else f"consistent with the {report.previous_size} audited before"
        print(f"ledger of {report.size} entries verified ({since}); {len(report.entries)} entries about you, {report.new} new")
        for entry in report.entries[-args.last:]:
            print(f"  {entry['seq']:>6} {entry['time'][:19]} {entry['kind']:<10} "
                  + ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("seq", "time", "kind", "owner", "salt")))
    owner.identity.save(path)
    return 0


# -- verifiers --------------------------------------------------------------------------------------


def run_agora(args: argparse.Namespace) -> int:
    from bioveil.agora.verifier import Verifier
    from bioveil.vault.identity import VerifierIdentity

    path = _identity_path(args, "verifier.json")
    if args.action == "register":
        if _taken(path, "verifier"):
            return 2
        verifier = Verifier.create(args.url, args.name)
        verifier.identity.save(path)
        print(f"verifier {verifier.id} registered; identity saved to {path} (keep it private: it holds your keys)")
        return 0
    verifier = Verifier(VerifierIdentity.load(path))
    code = 0
    if args.action == "ask":
        _show(verifier.ask(args.owner, args.purpose, args.days, args.uses, args.offer))
    elif args.action == "requests":
        _show(verifier.requests())
    elif args.action == "collect":
        grants = verifier.collect()
        print(f"{len(verifier.identity.grants)} usable grants of {len(grants)}")
    elif args.action == "check":
        result = verifier.check(args.grant, args.photo.read_bytes())
        print(json.dumps({"decision": result.decision, "receipt": result.receipt}))
        code = 0 if result.decision else 1
    elif args.action == "receipt":
        _show(verifier.check_receipt(args.receipt))
    verifier.identity.save(path)
    return code


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the vault service (owners' vaults, the agora, the ledger)",
                                description="Run the vault service. Default: loopback, a SQLite file in your data folder.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--database", metavar="URL", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")
    serve.add_argument("--key-file", type=Path, help="the service's signing key (created on first start)")
    serve.add_argument("--verify-rate", type=float, default=5.0, help="checks a second allowed per verifier")
    serve.add_argument("--verify-burst", type=int, default=10, help="checks allowed in a burst per verifier")
    serve.add_argument("--face-workers", type=int, metavar="N",
                       help="checks whose face networks run at once (default: one per core)")
    serve.add_argument("--waiting-checks", type=int, default=16, metavar="N",
                       help="checks held per face worker, running or queued; more are answered 503 (default: 16)")
    serve.set_defaults(run=run_serve)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--identity", type=Path, help="identity file (default in your data folder)")

    vault = commands.add_parser("vault", help="your face template, kept protected in your own vault")
    actions = vault.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a vault (asks for a passphrase)")
    create.add_argument("--url", default=DEFAULT_URL)
    enrol = actions.add_parser("enrol", help="enrol from 3 or more photos of yourself alone")
    enrol.add_argument("photos", nargs="+", type=Path)
    enrol.add_argument("--recognizer", choices=["sface", "dlib", "facenet"], default="sface")
    requests = actions.add_parser("requests", help="requests from verifiers (pending ones unless --all)")
    requests.add_argument("--all", action="store_true")
    accept = actions.add_parser("accept", help="grant a request (narrower with --days/--uses)")
    accept.add_argument("request")
    accept.add_argument("--days", type=float)
    accept.add_argument("--uses", type=int)
    accept.add_argument("--photos", nargs="*", type=Path, help="photos of you (default: those you enrolled)")
    decline = actions.add_parser("decline", help="decline a request")
    decline.add_argument("request")
    review = actions.add_parser("review", help="apply your policy file to pending requests")
    review.add_argument("--policy", type=Path, required=True, help="TOML: max_days, max_uses, decline_words, accept_from")
    actions.add_parser("grants", help="your grants and their remaining uses")
    revoke = actions.add_parser("revoke", help="revoke a grant now")
    revoke.add_argument("grant")
    rotate = actions.add_parser("rotate", help="new keys and template for a grant; the old ones never match again")
    rotate.add_argument("grant")
    rotate.add_argument("--photos", nargs="*", type=Path)
    audit = actions.add_parser("audit", help="verify the ledger: nothing about you was changed, dropped or reordered")
    audit.add_argument("--last", type=int, default=20, help="show this many of your latest entries")
    for parser in actions.choices.values():
        common(parser)
    vault.set_defaults(run=run_vault)

    agora = commands.add_parser("agora", help="verifiers: ask owners for grants and run yes/no checks")
    actions = agora.add_subparsers(dest="action", required=True, metavar="ACTION")
    register = actions.add_parser("register", help="register as a verifier")
    register.add_argument("name")
    register.add_argument("--url", default=DEFAULT_URL)
    ask = actions.add_parser("ask", help="ask an owner for a grant")
    ask.add_argument("owner")
    ask.add_argument("--purpose", required=True)
    ask.add_argument("--days", type=float, required=True)
    ask.add_argument("--uses", type=int, required=True)
    ask.add_argument("--offer", default="", help="what you offer in return")
    actions.add_parser("requests", help="your requests and their status")
    actions.add_parser("collect", help="collect your grants and their capabilities")
    check = actions.add_parser("check", help="one yes/no check of a live photo", epilog=EPILOG_CHECK)
    check.add_argument("grant")
    check.add_argument("photo", type=Path)
    receipt = actions.add_parser("receipt", help="verify a receipt against the ledger")
    receipt.add_argument("receipt")
    for parser in actions.choices.values():
        common(parser)
    agora.set_defaults(run=run_agora)
