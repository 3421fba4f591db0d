"""The peer of `bench/compare.py` is generated from Lotse's own data, so it stays the same assistant."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.peer_rasa.generate import FALLBACK, generate
from tests.conftest import ROOT


def _lotse_intents() -> set[str]:
    return {
        block["intent"]
        for path in (ROOT / "nlu").glob("*.yml")
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
        if "intent" in block
    }


def test_the_peer_answers_every_intent_of_lotse_with_the_same_pipeline(tmp_path: Path) -> None:
    project = generate(tmp_path / "peer")
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    rules = yaml.safe_load((project / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    config = yaml.safe_load((project / "config.yml").read_text(encoding="utf-8"))
    lotse_config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))

    assert set(domain["intents"]) == _lotse_intents() | {FALLBACK}
    answered = {rule["steps"][0]["intent"]: rule["steps"][1]["action"] for rule in rules}
    assert set(answered) == set(domain["intents"])
    assert all(action in domain["responses"] for action in answered.values())
    assert config["pipeline"] == lotse_config["pipeline"]
    assert [p["name"] for p in config["policies"]] == ["RulePolicy"]
    # the same examples, plus the town lookup Lotse generates at training time
    copied = {path.name for path in (project / "data").glob("*.yml")}
    assert {path.name for path in (ROOT / "nlu").glob("*.yml")} <= copied
    assert "_towns_lookup.yml" in copied
    assert "Metzingen" in (project / "data" / "_towns_lookup.yml").read_text(encoding="utf-8")
