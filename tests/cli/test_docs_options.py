"""The documentation's option tables say what the commands say: the same options, the same defaults,
and every command's help names its documentation page."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bioveil.cli.main import DOC_PAGES, build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTION = re.compile(r"^## Options of `bioveil ([a-z ]+)`\n(.*?)(?=^## |\Z)", re.M | re.S)


def _subparser(path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path.split():
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _documented() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    for page in DOCS.glob("*.md"):
        for command, body in SECTION.findall(page.read_text()):
            rows = {}
            for line in body.splitlines():
                cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
                if len(cells) >= 2 and cells[0].startswith("`-"):
                    rows[cells[0]] = cells[1]
            tables[command] = rows
    return tables


def _default(action: argparse.Action) -> str:
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    return "—" if action.default is None else f"`{action.default}`"


DOCUMENTED = _documented()


def test_the_main_commands_have_option_tables() -> None:
    assert {"mask", "scan", "cloak", "app", "evaluate pairs", "evaluate protection", "serve"} <= set(DOCUMENTED)


@pytest.mark.parametrize("command", sorted(DOCUMENTED))
def test_a_commands_table_has_its_options_and_defaults(command: str) -> None:
    actual = {", ".join(f"`{o}`" for o in action.option_strings): _default(action)
              for action in _subparser(command)._actions
              if action.option_strings and not isinstance(action, argparse._HelpAction)}
    assert DOCUMENTED[command] == actual


@pytest.mark.parametrize("command", sorted(DOC_PAGES))
def test_every_commands_help_names_its_page(command: str) -> None:
    page = DOC_PAGES[command]
    assert (DOCS / page).exists()
    assert f"docs/{page}" in _subparser(command).format_help()
