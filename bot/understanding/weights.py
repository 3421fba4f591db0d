"""The intent classifier's weights, read from the `.skops` file Rasa stores them in.

A `.skops` file is a zip of a JSON schema and `.npy` arrays. Reading the few fields a linear model
needs with numpy alone (never unpickling) avoids importing skops, whose trusted-type registry alone
takes seconds to import, and scikit-learn.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.understanding.errors import UnderstandingError


@dataclass(frozen=True)
class LinearWeights:
    classes: tuple[str, ...]
    coef: npt.NDArray[np.float64]  # (classes or 1 for two classes) x features
    intercept: npt.NDArray[np.float64]
    multinomial: bool  # softmax over the scores; otherwise one-vs-rest sigmoids, normalised


def read_logistic_regression(data: bytes, name: str) -> LinearWeights:
    """The fitted `sklearn.linear_model.LogisticRegression` in `data`; `name` is used in errors."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        if schema.get("__class__") != "LogisticRegression":
            raise UnderstandingError(f"{name} holds a {schema.get('__class__')}, not a LogisticRegression")
        fields = schema["content"]["content"]

        def array(key: str) -> npt.NDArray[Any]:
            node = fields.get(key) or {}
            if node.get("__loader__") != "NdArrayNode" or node.get("type") != "numpy":
                raise UnderstandingError(f"{name}: {key} is not stored as a numpy array")
            with archive.open(node["file"]) as stream:
                return np.load(stream, allow_pickle=False)  # type: ignore[no-any-return]

        def value(key: str) -> Any:
            node = fields.get(key) or {}
            return json.loads(node["content"]) if node.get("is_json") else None

        classes = array("classes_")
        coef = array("coef_").astype(np.float64, copy=False)
        intercept = array("intercept_").astype(np.float64, copy=False).reshape(-1)
    if classes.dtype.kind != "U" or classes.ndim != 1 or len(classes) < 2:
        raise UnderstandingError(f"{name}: the classifier's classes are not a list of intent names")
    rows = 1 if len(classes) == 2 else len(classes)
    if coef.ndim != 2 or coef.shape[0] != rows or intercept.shape != (rows,):
        raise UnderstandingError(f"{name}: weights of shape {coef.shape} do not fit {len(classes)} intents")
    return LinearWeights(
        classes=tuple(str(c) for c in classes),
        coef=coef,
        intercept=intercept,
        multinomial=_multinomial(value("multi_class"), value("solver"), len(classes)),
    )


def _multinomial(multi_class: object, solver: object, n_classes: int) -> bool:
    """scikit-learn's rule for `predict_proba`: softmax unless one-vs-rest was asked or implied."""
    if multi_class in ("ovr", "warn"):
        return False
    if multi_class == "auto":
        return n_classes > 2 and solver != "liblinear"
    if multi_class == "multinomial":
        return True
    raise UnderstandingError(f"unknown multi_class setting {multi_class!r} of the intent classifier")
