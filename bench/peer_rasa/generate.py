"""Generate the peer for `bench/compare.py`: a plain Rasa 3.6 assistant built from Lotse's own NLU data.

This is what a district would get from Rasa's own tooling: `rasa run --enable-api` with the REST
channel, the same NLU pipeline as Lotse (`config.yml`, with Rasa's `RulePolicy` added for dialogue),
the same training examples (`nlu/*.yml` and the town lookup generated from `content/towns.yml`), a
domain with one response per intent, and one rule per intent mapping it to its response (and the
fallback intent to a "please rephrase" response).

Nothing of Lotse's content is committed here: the project is written into a folder of its own
(default `bench/peer_rasa/project/`, ignored by git) each time this runs.

    .venv/bin/python bench/peer_rasa/generate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT, Settings
from bot.knowledge.content import load_content
from bot.understanding.training import prepare_training_dir

DEFAULT_OUT = Path(__file__).resolve().parent / "project"
FALLBACK = "nlu_fallback"
_ENTITY = re.compile(r"\]\((\w+)\)|\]\{\"entity\": \"(\w+)\"")


def intents_and_entities(data_dir: Path) -> tuple[list[str], list[str]]:
    """Intent names in file order, and every entity the examples annotate or a lookup table names."""
    intents: list[str] = []
    entities: set[str] = set()
    for path in sorted(data_dir.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        entities.update(a or b for a, b in _ENTITY.findall(text))
        for block in (yaml.safe_load(text) or {}).get("nlu") or []:
            if "intent" in block and block["intent"] not in intents:
                intents.append(block["intent"])
            if "lookup" in block:
                entities.add(block["lookup"])
    return intents, sorted(entities)


def domain(intents: list[str], entities: list[str]) -> dict[str, object]:
    responses = {
        f"utter_{intent}": [{"text": f"Antwort des Landkreises zum Thema {intent.replace('_', ' ')}."}]
        for intent in intents
    }
    responses["utter_rephrase"] = [{"text": "Das habe ich nicht verstanden. Bitte formulieren Sie es anders."}]
    return {
        "version": "3.1",
        "intents": [*intents, FALLBACK],
        "entities": entities,
        "responses": responses,
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }


def rules(intents: list[str]) -> dict[str, object]:
    steps = [(intent, f"utter_{intent}") for intent in intents] + [(FALLBACK, "utter_rephrase")]
    return {
        "version": "3.1",
        "rules": [
            {"rule": f"answer {intent}", "steps": [{"intent": intent}, {"action": action}]}
            for intent, action in steps
        ],
    }


def generate(out: Path = DEFAULT_OUT, settings: Settings | None = None) -> Path:
    """Write the peer project to `out` (replacing what was there) and return `out`."""
    settings = settings or Settings()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    data = prepare_training_dir(settings, load_content(settings.content_dir).town_names(), out)
    intents, entities = intents_and_entities(data)
    config = yaml.safe_load(settings.nlu_config.read_text(encoding="utf-8"))
    config["assistant_id"] = "peer-rasa"
    config["policies"] = [{"name": "RulePolicy", "core_fallback_action_name": "utter_rephrase"}]
    _write_yaml(out / "config.yml", config)
    _write_yaml(out / "domain.yml", domain(intents, entities))
    _write_yaml(data / "rules.yml", rules(intents))
    (out / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    (out / "endpoints.yml").write_text("", encoding="utf-8")
    return out


def _write_yaml(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    out = generate(args.out)
    print(f"peer project written to {out.relative_to(PROJECT_ROOT) if out.is_relative_to(PROJECT_ROOT) else out}")


if __name__ == "__main__":
    main()
