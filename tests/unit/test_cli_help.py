"""The CLI explains itself: every command's --help runs, every option says what it is
and shows its default, and usage mistakes are one line and exit 2."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from gateway import cli
from providers import capability_matrix_markdown


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


PARSERS = list(_parsers(cli._parser()))
COMMANDS = [path for path, _ in PARSERS]


def test_every_command_is_covered() -> None:
    assert ("config", "check") in COMMANDS
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "flowgateway")
def test_help_runs(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*path, "--help"])
    assert info.value.code == 0
    assert "usage: flowgateway" in capsys.readouterr().out


def test_every_option_has_help_and_shows_its_default() -> None:
    missing = []
    for path, parser in PARSERS:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            name = " ".join(
                (*path, action.option_strings[0] if action.option_strings else action.dest)
            )
            if not action.help:
                missing.append(name)
                continue
            shown = formatter._expand_help(action)  # type: ignore[attr-defined]
            if action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings:
                assert str(action.default) in shown, name
    assert missing == []


def test_every_top_level_command_has_a_handler() -> None:
    top = {path[0] for path in COMMANDS if len(path) == 1}
    assert top == set(cli._COMMANDS)


def test_bad_log_level_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--log-level", "LOUD", "providers"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "invalid choice: 'LOUD'" in err


def test_log_level_is_case_insensitive(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--log-level", "info", "providers"]) == 0
    assert "meta_cloud" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["bogus"], ["--to", "+1555", "--flow-id", "1"], [], ["sen"]])
def test_unknown_or_missing_command_is_an_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_providers_capabilities_prints_the_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["providers", "--capabilities"]) == 0
    assert capsys.readouterr().out == capability_matrix_markdown()
