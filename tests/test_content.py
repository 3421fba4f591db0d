"""The example district is complete, and broken content is reported with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.knowledge.content import Content, load_content
from bot.knowledge.errors import ContentErrors
from tests.conftest import ROOT


def test_example_district_is_complete(content: Content) -> None:
    assert len(content.towns) >= 12
    district = [t for t in content.teams.values() if t.operator == "district"]
    municipal = [t for t in content.teams.values() if t.operator == "municipality"]
    assert len(district) >= 3 and len(municipal) >= 2
    assert len(content.places) >= 25
    for town_id in content.towns:
        assert content.team_for(town_id) is not None, town_id
    services = {s for p in content.places if p.kind == "counselling" for s in p.services}
    assert {"trauma", "pregnancy_family", "migration", "violence"} <= services
    sports = [p for p in content.places if p.kind == "sports"]
    swimming = [p for p in sports if p.sport == "swimming"]
    assert len(sports) >= 8 and len(swimming) >= 2
    assert any("women" in p.target_group for p in swimming)
    assert len([p for p in content.places if p.kind == "german_course"]) >= 4
    assert any(p.kind == "kita_registration" for p in content.places)


def test_every_item_names_source_and_date_and_invented_data_is_marked(content: Content) -> None:
    for item in [*content.teams.values(), *content.places]:
        assert item.source and item.last_checked
        if item.phone and "000" in item.phone:
            assert item.example, f"{item.id}: invented phone number not marked as example data"
    for topic in content.topics.values():
        assert topic.source and topic.last_checked


def test_emergency_numbers_are_exact(content: Content) -> None:
    numbers = {n.number.replace(" ", "") for n in content.emergency_numbers}
    assert {"110", "112", "116016", "08001110111", "08001110222"} <= numbers


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(ROOT / "content", target)
    return target


def test_typo_in_weekday_names_file_and_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    teams = root / "teams.yml"
    lines = teams.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("mon:"))
    lines[index] = lines[index].replace("mon:", "mnday:")
    teams.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    error = caught.value.errors[0]
    assert error.path.endswith("teams.yml")
    assert error.line == index + 1
    assert "mnday" in error.detail


def test_bad_time_range_and_unknown_town_are_both_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    sports = root / "places" / "sports.yml"
    text = sports.read_text(encoding="utf-8")
    first_town = next(line for line in text.splitlines() if line.strip().startswith("town:"))
    text = text.replace(first_town, first_town.split(":")[0] + ": atlantis", 1)
    sports.write_text(text, encoding="utf-8")
    teams = root / "teams.yml"
    teams.write_text(
        teams.read_text(encoding="utf-8").replace('"09:00-12:00"', '"12:00-09:00"', 1), encoding="utf-8"
    )
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    messages = str(caught.value)
    assert "sports.yml" in messages and "atlantis" in messages
    assert "teams.yml" in messages and "ends before it starts" in messages


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "towns.yml").write_text("towns:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContentErrors) as caught:
        load_content(root)
    assert any(e.path.endswith("towns.yml") and e.line for e in caught.value.errors)


def test_town_matching_tolerates_typos_and_scripts(content: Content) -> None:
    assert content.find_town("Reutlngen").id == "reutlingen"  # type: ignore[union-attr]
    assert content.find_town("MÜNSINGEN").id == "muensingen"  # type: ignore[union-attr]
    assert content.find_town("bad urach").id == "bad-urach"  # type: ignore[union-attr]
    assert content.find_town("Atlantis") is None
