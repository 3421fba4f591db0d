"""`lotse content check` as an editor meets it: every finding names file, line and what to do."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.i18n.catalogs import Catalogs
from tests.conftest import ROOT


@dataclass
class Workspace:
    """A copy of the shipped content and catalogs that a test may break."""

    content: Path
    locales: Path

    def edit(self, relative: str, old: str, new: str, count: int = 1) -> int:
        """Replace text in a content file; returns the 1-based line of the first replacement."""
        path = self.content / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        line = text[: text.index(old)].count("\n") + 1
        path.write_text(text.replace(old, new, count), encoding="utf-8")
        return line


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    space = Workspace(tmp_path / "content", tmp_path / "locales")
    shutil.copytree(ROOT / "content", space.content)
    shutil.copytree(ROOT / "locales", space.locales)
    monkeypatch.setenv("LOTSE_CONTENT_DIR", str(space.content))
    monkeypatch.setenv("LOTSE_LOCALES_DIR", str(space.locales))
    return space


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["content", "check", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def _findings(report: dict[str, object]) -> list[dict[str, object]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return findings


def test_shipped_content_passes_without_errors(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _check(capsys)
    assert code == 0 and report["ok"] is True and report["errors"] == 0
    assert not [f for f in _findings(report) if f["severity"] == "error"]


def test_weekday_typo_team_without_town_and_stale_arabic_are_reported_together(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's broken file: each problem with its file and line, in one round."""
    typo_line = workspace.edit("teams.yml", '      wed: ["08:30-12:00"]', '      wednsday: ["08:30-12:00"]')
    empty_line = workspace.edit("teams.yml", "towns: [metzingen]", "towns: []")
    german_line = workspace.edit(
        "topics/sports.yml",
        "Sport ist gut für Körper und Seele.",
        "Sport tut Körper und Seele gut.",
    )
    arabic = (workspace.locales / "ar" / "LC_MESSAGES" / "content.po").read_text(encoding="utf-8")
    arabic_line = arabic.splitlines().index('msgctxt "topic:sports.offers:text"') + 2  # the msgid line

    code, report = _check(capsys)
    assert code == 1 and report["ok"] is False and report["content"] is None
    where = {(f["path"], f["line"]): f for f in _findings(report)}

    typo = where[("content/teams.yml", typo_line)]
    assert typo["severity"] == "error" and "wednsday" in str(typo["message"])
    assert "mon, tue, wed" in str(typo["message"])  # what to write instead

    no_town = where[("content/teams.yml", empty_line)]
    assert no_town["severity"] == "error" and "serves no town" in str(no_town["message"])
    orphan = next(f for f in _findings(report) if "'metzingen' has no responsible team" in str(f["message"]))
    assert orphan["path"] == "content/towns.yml" and orphan["line"] == 12

    stale = where[(str(workspace.locales / "ar" / "LC_MESSAGES" / "content.po"), arabic_line)]
    assert stale["severity"] == "warning" and stale["language"] == "ar"
    assert "stale" in str(stale["message"]) and f"topics/sports.yml:{german_line - 1}" in str(
        stale["message"]
    )  # `text:`
    assert "lotse i18n update" in str(stale["hint"])
    # every other language's translation of that text is stale too, and nothing else is
    stale_languages = {f["language"] for f in _findings(report) if "stale" in str(f["message"])}
    assert stale_languages == {"en", "ar", "fa", "uk", "ru", "tr"}


def test_the_text_report_names_file_line_and_what_to_do(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    line = workspace.edit("places/sports.yml", 'phone: "+49 7121 000-701"', 'phone: "7121 701"')
    assert main(["content", "check"]) == 1
    out = capsys.readouterr().out
    assert f"content/places/sports.yml:{line}: error: phone: '7121 701' is not a phone number" in out
    assert "with the area code" in out
    assert "content has 1 error(s)" in out and "last good content" in out


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("website: https://example.org/kita-reutlingen", "website: example.org/kita", "is not a web address"),
        ("email: fussball-jugend@example.org", "email: fussball-jugend(at)example.org", "is not an e-mail"),
        ('tue: ["17:00-18:30"]', 'tue: ["17:00-18:30", "18:00-19:00"]', "overlaps '17:00-18:30'"),
    ],
)
def test_links_addresses_and_overlapping_hours_are_errors(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    relative = next(
        str(p.relative_to(workspace.content))
        for p in sorted(workspace.content.rglob("*.yml"))
        if old in p.read_text(encoding="utf-8")
    )
    line = workspace.edit(relative, old, new)
    code, report = _check(capsys)
    errors = [f for f in _findings(report) if f["severity"] == "error"]
    assert code == 1 and len(errors) == 1
    assert errors[0]["path"] == f"content/{relative}" and errors[0]["line"] == line
    assert expected in str(errors[0]["message"])


def test_hours_in_any_order_are_fine_when_they_do_not_overlap(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.edit("teams.yml", 'tue: ["08:30-12:00", "14:00-16:30"]', 'tue: ["14:00-16:30", "08:30-12:00"]')
    code, report = _check(capsys)
    assert code == 0 and report["errors"] == 0


def test_out_of_date_items_implausible_hours_and_past_closures_are_warnings(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    old = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    dated_line = workspace.edit("places/sports.yml", "last_checked: 2026-09-20", f"last_checked: {old}")
    hours_line = workspace.edit("teams.yml", 'mon: ["08:30-12:00"]', 'mon: ["03:30-12:00"]')
    workspace.edit(
        "teams.yml",
        "closures: []",
        "closures:\n      - {from: 2020-01-02, to: 2020-01-03, note: Betriebsausflug}",
    )
    code, report = _check(capsys)
    assert code == 0 and report["errors"] == 0  # warnings alone do not fail the check
    warnings = {(f["path"], f["line"]): f for f in _findings(report) if f["severity"] == "warning"}

    dated = warnings[("content/places/sports.yml", dated_line)]
    assert "more than 180 days ago" in str(dated["message"])
    assert f"last_checked: {dt.date.today().isoformat()}" in str(dated["hint"])
    hours = warnings[("content/teams.yml", hours_line - 1)]  # the line of `hours:`
    assert "opens before 06:00 on mon (03:30-12:00)" in str(hours["message"])
    assert any("closure 02.01.2020–03.01.2020 is over" in str(f["message"]) for f in warnings.values())

    # a longer allowed age silences the date warning; --strict turns warnings into a failure
    _, relaxed = _check(capsys, "--max-age", "500")
    assert not any("days ago" in str(f["message"]) for f in _findings(relaxed))
    strict, _ = _check(capsys, "--strict")
    assert strict == 1


def test_a_missing_translation_points_to_the_catalog_line_or_the_german(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new text nobody translated yet: the German's line until `i18n update` adds the entry."""
    workspace.edit(
        "topics/sports.yml",
        "  - key: sports.none\n",
        "  - key: sports.tryout\n"
        "    title: Probetraining\n"
        "    text: Fragen Sie im Verein nach einem kostenlosen Probetraining.\n"
        "    source: Redaktion\n"
        "    last_checked: 2026-11-01\n"
        "  - key: sports.none\n",
    )
    _, report = _check(capsys)
    missing = [f for f in _findings(report) if "topic:sports.tryout:text" in str(f["message"])]
    assert {f["language"] for f in missing} == {"en", "ar", "fa", "uk", "ru", "tr"}
    assert all(
        f["path"] == "content/topics/sports.yml" and "is missing" in str(f["message"]) for f in missing
    )
    assert all("lotse i18n update" in str(f["hint"]) for f in missing)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (('msgstr "', 'msgst "'), "unknown or misspelled keyword"),
        (('"\n\n', "\n\n"), "no closing quote"),
    ],
)
def test_a_broken_catalog_line_is_an_error_with_its_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], damage: tuple[str, str], expected: str
) -> None:
    """A translator's slip in a text editor; Babel alone would cut or drop the entry silently."""
    catalog = workspace.locales / "ar" / "LC_MESSAGES" / "content.po"
    text = catalog.read_text(encoding="utf-8")
    start = text.index('msgctxt "topic:sports.offers:title"')
    old, new = damage
    at = text.index(old, start)
    catalog.write_text(text[:at] + new + text[at + len(old) :], encoding="utf-8")
    line = text[:at].count("\n") + 1
    code, report = _check(capsys)
    errors = [f for f in _findings(report) if f["severity"] == "error"]
    assert code == 1 and len(errors) == 1
    assert errors[0]["path"] == str(catalog) and errors[0]["line"] == line and errors[0]["language"] == "ar"
    assert expected in str(errors[0]["message"])


def test_a_missing_emergency_number_is_an_error_and_the_content_does_not_load(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.edit("region.yml", 'number: "112"', 'number: "113"')
    code, report = _check(capsys)
    assert code == 1
    missing = [f for f in _findings(report) if "112" in str(f["message"])]
    assert missing and missing[0]["severity"] == "error"
    assert str(missing[0]["path"]).endswith("region.yml") and missing[0]["line"]


def test_a_translation_that_changes_an_emergency_number_is_an_error_and_not_served(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = workspace.locales / "ar" / "LC_MESSAGES" / "content.po"
    text = catalog.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    keyword, line = "", 0
    for index, current in enumerate(lines):
        if not current.startswith('"'):  # a keyword line, a comment or the blank line between entries
            keyword = current.split(" ", 1)[0]
        if keyword == "msgstr" and "112" in current:
            lines[index], line = current.replace("112", "911"), index + 1
            break
    catalog.write_text("".join(lines), encoding="utf-8")

    code, report = _check(capsys)
    assert code == 1
    wrong = [f for f in _findings(report) if f["severity"] == "error" and f["language"] == "ar"]
    assert len(wrong) == 1 and "112" in str(wrong[0]["message"])
    assert str(wrong[0]["path"]).endswith("ar/LC_MESSAGES/content.po")
    assert int(str(wrong[0]["line"])) <= line  # the entry's msgid, just above its msgstr

    served = Catalogs.load(workspace.locales)
    intact = Catalogs.load(ROOT / "locales")
    changed = [key for key, entry in intact._entries["ar"].items() if served.lookup("ar", key[1], key[0]) != entry]
    assert len(changed) == 1  # only that entry is withheld; users of Arabic read its German with 112
    assert served.lookup("ar", changed[0][1], changed[0][0]) is None
