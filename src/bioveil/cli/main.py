"""Entry point of the ``bioveil`` command.

Exit codes: 0 every input succeeded; 1 some input failed (the others were still processed);
2 the command line was wrong; 3 no input was found to process; 4 ``scan --fail-on`` found a category.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bioveil import __version__
from bioveil.cli import app as app_command
from bioveil.cli import cloak as cloak_command
from bioveil.cli import evaluate as evaluate_command
from bioveil.cli import mask as mask_command
from bioveil.cli import models as models_command
from bioveil.cli import scan as scan_command
from bioveil.cli import vault as vault_command
from bioveil.errors import BioveilError

# Each command's page of the documentation (docs/, built with MkDocs); its help ends with a pointer to it.
DOC_PAGES = {"mask": "mask.md", "scan": "scan.md", "evaluate": "evaluate.md", "cloak": "cloak.md", "vault": "vault.md",
             "serve": "vault.md", "agora": "vault.md", "app": "app.md", "models": "install.md"}
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_NOTHING, EXIT_EXPOSED = 0, 1, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bioveil", description="Local-first biometric privacy toolkit.")
    parser.add_argument("--version", action="version", version=f"bioveil {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    mask_command.add_parser(commands)
    scan_command.add_parser(commands)
    evaluate_command.add_parser(commands)
    cloak_command.add_parser(commands)
    vault_command.add_parser(commands)
    app_command.add_parser(commands)
    models_command.add_parser(commands)
    for name, page in DOC_PAGES.items():
        sub = commands.choices[name]
        sub.epilog = f"{sub.epilog} " if sub.epilog else ""
        sub.epilog += f"Documentation: docs/{page} in the repository, or its page of the documentation site."
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except BioveilError as exc:
        print(f"bioveil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("bioveil: interrupted; outputs already written are complete, none is partial; "
              "run the same command again to finish the batch", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
