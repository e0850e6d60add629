"""The docs say what the code does: derived from the code, so a new key, command or page shows up here.

- every field of every config model is a row of its section's table in docs/config.md (and
  every row there is a field);
- every subcommand of the CLI, its options and choices are in docs/design.md's command table;
- every module of monitor/ has a row in docs/design.md's "Where things are", and every path there exists;
- every local link in README.md, docs/*.md and the other READMEs resolves (files and their headings);
- nothing in the project points to a design document that a clone of it does not have.
"""

from __future__ import annotations

import argparse
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.cli import build_parser
from monitor.config import Config
from tests.conftest import ROOT

DOCS = ROOT / "docs"
# Each markdown page whose links must resolve.
PAGES = sorted([ROOT / "README.md", ROOT / "config" / "README.md", ROOT / "systemd" / "README.md",
                *DOCS.glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
_KEY_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|", re.M)


# -- helpers: markdown ---------------------------------------------------------------------------


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks and code spans (where [x](y) is not a link)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", markdown))


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in _HEADING.finditer(_FENCE.sub("", markdown)):
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def local_links(page: Path) -> Iterator[str]:
    for match in _LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = match.group(1)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ... are not local
            yield target


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """One line per link of `page` to a missing file or heading (named relative to `root`)."""
    problems = []
    for target in local_links(page):
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            problems.append(f"{page.relative_to(root)}: link to {target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text(encoding="utf-8")):
            problems.append(f"{page.relative_to(root)}: link to {target}: no heading #{anchor}")
    return problems


def section(markdown: str, heading: str) -> str:
    """The text under the level-2 heading `heading`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no section '## {heading}'"
    return match.group(1)


# -- helpers: code -------------------------------------------------------------------------------


def _model_of(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """The config model a field holds (and whether it holds a list of them), or (None, False)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        model, _ = _model_of(arg)
        if model is not None:
            return model, origin is list
    return None, False


def config_sections(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """('[monitor]', MonitorSettings), ('[[pages]]', PageConfig), ...: every table the config
    file can have, found by walking the models (a model inside a section is a table of its own)."""
    for name, field in model.model_fields.items():
        inner, is_list = _model_of(field.annotation)
        if inner is None:
            continue
        dotted = f"{prefix}{name}"
        yield (f"[[{dotted}]]" if is_list else f"[{dotted}]"), inner
        yield from config_sections(inner, dotted + ".")


def keys_of(model: type[BaseModel]) -> set[str]:
    """The keys a section takes: its fields that are values, not tables of their own."""
    return {name for name, field in model.model_fields.items() if _model_of(field.annotation)[0] is None}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no subcommands")


def options_of(parser: argparse.ArgumentParser, common: set[str]) -> set[str]:
    """A subcommand's own words: its long options and the choices of its positionals."""
    words: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            longest = max(action.option_strings, key=len)
            if longest not in common:
                words.add(longest)
        elif action.choices:
            words.update(str(choice) for choice in action.choices)
    return words


def _mentions(text: str, word: str) -> bool:
    """`word` in `text` as a word of its own (`--from` is not in `--from_`, `list` not in `lists`)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def command_rows(markdown: str) -> dict[str, str]:
    """`name` -> its row, for the rows of the command table in docs/design.md."""
    return {match.group(1): line for line in markdown.splitlines() if (match := _KEY_ROW.match(line))}


# -- the config reference ------------------------------------------------------------------------


def test_config_sections_are_found_by_walking_the_models() -> None:
    found = dict(config_sections())
    assert {"[monitor]", "[[alerts]]", "[[pages]]", "[report]", "[archive]", "[metrics]"} <= found.keys()
    assert "interval" in keys_of(found["[monitor]"]) and "select" in keys_of(found["[[pages]]"])


@pytest.mark.parametrize("heading,model", list(config_sections()), ids=[heading for heading, _ in config_sections()])
def test_every_config_key_is_documented_in_its_section(heading: str, model: type[BaseModel]) -> None:
    text = section((DOCS / "config.md").read_text(encoding="utf-8"), f"`{heading}`")
    rows = set(_KEY_ROW.findall(text)) - {"key"}
    missing = keys_of(model) - rows
    assert not missing, f"docs/config.md, {heading}: no row for {sorted(missing)}"
    stale = rows - keys_of(model)
    assert not stale, f"docs/config.md, {heading}: rows for keys the config does not take: {sorted(stale)}"


def test_top_level_fields_that_are_not_sections_are_explained() -> None:
    intro = (DOCS / "config.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    for name in keys_of(Config):
        assert f"`{name}`" in intro, f"docs/config.md: top-level field {name!r} is not explained before the sections"


# -- the command line ----------------------------------------------------------------------------


def test_every_subcommand_and_option_is_in_the_design_page() -> None:
    parser = build_parser()
    commands = subcommands(parser)
    assert {"run", "check", "events", "config-check"} <= commands.keys()
    text = section((DOCS / "design.md").read_text(encoding="utf-8"), "The command line")
    rows = command_rows(text)
    common = {max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    for option in common - {"--help"}:
        assert _mentions(text, f"`{option}"), f"docs/design.md: the common option {option} is not described"
    for name, sub in commands.items():
        assert name in rows, f"docs/design.md: subcommand {name!r} has no row in the command table"
        for word in options_of(sub, common):
            assert _mentions(rows[name], word), f"docs/design.md: {name}: {word} is not in its row"


# -- where things are ----------------------------------------------------------------------------


def test_where_things_are_lists_every_module_and_only_modules_that_exist() -> None:
    text = section((DOCS / "design.md").read_text(encoding="utf-8"), "Where things are")
    listed = set(re.findall(r"`((?:monitor|config|docs|systemd|tests|bench)/[\w./]*)`", text))
    assert "monitor/check.py" in listed
    missing = sorted(path for path in listed if not (ROOT / path).exists())
    assert not missing, f"docs/design.md, Where things are: no such path {missing}"
    packages = {path for path in listed if path.endswith("/")}
    unlisted = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / "monitor").iterdir()
        if not path.name.startswith(("__", ".")) and (path.suffix == ".py" or path.is_dir())
        and str(path.relative_to(ROOT)) + ("/" if path.is_dir() else "") not in listed | packages
    )
    assert not unlisted, f"docs/design.md, Where things are: add {unlisted}"


# -- links ---------------------------------------------------------------------------------------


def test_slugs_match_githubs() -> None:
    assert _slug("The status board (`status`, and the report's index page)") == \
        "the-status-board-status-and-the-reports-index-page"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_local_links_resolve(page: Path) -> None:
    assert not broken_links(page)


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# Here it is\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#here-it-is) [gone](missing.md) [bad](there.md#elsewhere) `[code](x.md)`\n"
                    "```\n[fenced](y.md)\n```\n[web](https://example.org/x.md)\n", encoding="utf-8")
    assert list(local_links(page)) == ["there.md#here-it-is", "missing.md", "there.md#elsewhere"]
    assert broken_links(page, tmp_path) == ["page.md: link to missing.md: no such file",
                                            "page.md: link to there.md#elsewhere: no heading #elsewhere"]


# -- nothing outside the repository --------------------------------------------------------------

# Built from parts, so that this file does not mention them itself.
_OUTSIDE = ("DESIGN" + ".md", ".." + "/shared")
_SCANNED = ("README.md", "pyproject.toml", "alembic.ini", ".ci", "docs", "monitor", "config", "systemd", "bench",
            "tests")


def project_files() -> Iterator[Path]:
    for name in _SCANNED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            parts = path.relative_to(ROOT).parts
            if not path.is_file() or "__pycache__" in parts or parts[:2] == ("tests", "data"):
                continue
            yield path


def test_nothing_points_outside_the_repository() -> None:
    files = list(project_files())
    assert ROOT / "monitor" / "cli" / "__init__.py" in files and ROOT / "docs" / "design.md" in files
    mentions = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
                for path in files
                for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                if any(word in line for word in _OUTSIDE)]
    assert not mentions, "say it in the project's own docs (docs/design.md, docs/events.md):\n" + "\n".join(mentions)
