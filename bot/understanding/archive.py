"""Reading a Rasa 3.6 model archive (`models/nlu.tar.gz`) without Rasa.

The archive is a gzipped tar holding `metadata.json` (among others the prediction graph: which
component runs after which, with its configuration) and one folder per trained component under
`components/`. Members are read into memory, never extracted, so a hostile archive cannot write files.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.understanding.errors import UnderstandingError

SUPPORTED_RASA = "3.6."
MESSAGE = "__message__"  # the graph's input: the user's message
RETRAIN = "retrain with 'lotse train --force'"


@dataclass(frozen=True)
class Node:
    """One step of the prediction graph: a component with its configuration and stored files."""

    name: str
    component: str  # the class name, e.g. "CountVectorsFeaturizer"
    uses: str  # the dotted path of the class
    config: dict[str, Any]
    resource: str  # the folder of its stored files under components/; "" when it stores nothing
    files: dict[str, bytes]  # the component's stored files by name; empty when it stores nothing


@dataclass(frozen=True)
class Archive:
    path: Path
    rasa_version: str
    nodes: tuple[Node, ...]  # in the order Rasa runs them on a message


def read_archive(path: Path) -> Archive:
    """The prediction steps of the model at `path`; `UnderstandingError` naming it when unreadable."""
    if not path.exists():
        raise UnderstandingError(f"no NLU model at {path}; run 'lotse train' first")
    try:
        members = _members(path)
        metadata = json.loads(members["metadata.json"])
    except (OSError, EOFError, tarfile.TarError, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise UnderstandingError(
            f"{path} is not a Rasa model archive ({_reason(exc)}); {RETRAIN}"
        ) from exc
    if not isinstance(metadata, dict):
        raise UnderstandingError(f"{path} is not a Rasa model archive (metadata.json is no object); {RETRAIN}")
    version = str(metadata.get("rasa_open_source_version", ""))
    if not version.startswith(SUPPORTED_RASA):
        raise UnderstandingError(
            f"{path} was trained with Rasa {version or 'of unknown version'}; Lotse reads models of "
            f"Rasa {SUPPORTED_RASA}x only: {RETRAIN}"
        )
    try:
        nodes = _prediction_chain(path, metadata, members)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnderstandingError(
            f"{path} has no usable prediction graph in metadata.json ({_reason(exc)}); {RETRAIN}"
        ) from exc
    return Archive(path=path, rasa_version=version, nodes=nodes)


def _members(path: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            stream = tar.extractfile(member)
            if stream is not None:
                found[member.name.lstrip("/").removeprefix("./")] = stream.read()
    return found


def _prediction_chain(path: Path, metadata: dict[str, Any], members: dict[str, bytes]) -> tuple[Node, ...]:
    """Walk back from the NLU target to the step that reads the message: Rasa's NLU graph is a chain.

    Each step takes the messages of the one before; a step that needs anything else (a spaCy
    model, a tracker) belongs to a pipeline this reader does not know.
    """
    graph: dict[str, Any] = metadata["predict_schema"]["nodes"]
    name: str = metadata["nlu_target"]
    chain: list[Node] = []
    while True:
        if len(chain) > len(graph):
            raise UnderstandingError(f"{path}: the prediction graph in metadata.json loops; {RETRAIN}")
        spec = graph[name]
        needs = spec.get("needs") or {}
        chain.append(_node(name, spec, members))
        if needs == {"messages": MESSAGE}:
            return tuple(reversed(chain))
        if set(needs) != {"messages"}:
            raise UnderstandingError(
                f"{path}: the component {chain[-1].component} needs {', '.join(sorted(needs))}, "
                f"which Lotse's NLU does not provide; use config.yml's pipeline and {RETRAIN}"
            )
        name = needs["messages"]


def _node(name: str, spec: dict[str, Any], members: dict[str, bytes]) -> Node:
    uses = str(spec["uses"])
    resource = str((spec.get("resource") or {}).get("name") or "")
    folder = f"components/{resource}/"
    return Node(
        name=name,
        component=uses.rsplit(".", 1)[-1],
        uses=uses,
        config=dict(spec.get("config") or {}),
        resource=resource,
        files={key[len(folder) :]: data for key, data in members.items() if resource and key.startswith(folder)},
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]} missing" if exc.args else "an entry is missing"
    return str(exc) or type(exc).__name__
