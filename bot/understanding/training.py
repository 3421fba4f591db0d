"""`lotse train`: retrain only when the training data, the pipeline or the towns changed.

The town lookup table is generated from `content/towns.yml` at training time, so editors add a
town in one place. The hash of everything that goes into the model is stored next to it; an
unchanged hash means the existing model is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.knowledge.content import load_content
from bot.understanding.errors import UnderstandingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    trained: bool
    data_hash: str


def towns_lookup_yaml(town_names: list[str]) -> str:
    lines = ['version: "3.1"', "nlu:", "- lookup: municipality", "  examples: |"]
    lines += [f"    - {name}" for name in town_names if name.strip()]
    return "\n".join(lines) + "\n"


def data_hash(settings: Settings, town_names: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(settings.nlu_dir.glob("*.yml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(settings.nlu_config.read_bytes())
    digest.update(json.dumps(town_names, ensure_ascii=False).encode())
    return digest.hexdigest()


def hash_file(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def is_current(settings: Settings) -> bool:
    content = load_content(settings.content_dir)
    marker = hash_file(settings.model_path)
    return (
        settings.model_path.exists()
        and marker.exists()
        and marker.read_text().strip() == data_hash(settings, content.town_names())
    )


def prepare_training_dir(settings: Settings, town_names: list[str], target: Path) -> Path:
    """Copy nlu/ and add the generated town lookup; returns the folder Rasa trains on."""
    data = target / "data"
    data.mkdir(parents=True)
    for path in sorted(settings.nlu_dir.glob("*.yml")):
        shutil.copy(path, data / path.name)
    (data / "_towns_lookup.yml").write_text(towns_lookup_yaml(town_names), encoding="utf-8")
    return data


def train(settings: Settings | None = None, force: bool = False) -> TrainResult:
    settings = settings or Settings()
    content = load_content(settings.content_dir)
    towns = content.town_names()
    current = data_hash(settings, towns)
    marker = hash_file(settings.model_path)
    if (
        not force
        and settings.model_path.exists()
        and marker.exists()
        and marker.read_text().strip() == current
    ):
        log.info("NLU model is up to date (%s)", current[:12])
        return TrainResult(settings.model_path, False, current)

    from rasa.model_training import train_nlu  # imported late: Rasa takes seconds to import

    settings.model_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lotse-train-") as tmp:
        data = prepare_training_dir(settings, towns, Path(tmp))
        output = Path(tmp) / "out"
        result = train_nlu(
            config=str(settings.nlu_config),
            nlu_data=str(data),
            output=str(output),
            fixed_model_name="nlu",
        )
        if not result:
            raise UnderstandingError("Rasa did not produce a model; see the log above")
        # next to the target first, then renamed: a server loading the model (another worker
        # following the trainer) never reads a half-copied file
        partial = settings.model_path.with_name(settings.model_path.name + ".partial")
        shutil.move(str(result), str(partial))
        os.replace(partial, settings.model_path)
    marker.write_text(current + "\n")
    return TrainResult(settings.model_path, True, current)
