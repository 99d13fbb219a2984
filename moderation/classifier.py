"""The second insurance: a linear text classifier over hashed character n-grams. No Django.

Features are the character 1- to 3-grams of the normalised text (textnorm.normalise), hashed into
2**18 columns (scikit-learn's HashingVectorizer, stateless: nothing but its parameters needs
storing) and L2-normalised, so Chinese needs no word segmentation. Each category is one logistic
regression (one-vs-rest, balanced class weights); a text's score for a category is the model's
probability.

A trained model is stored as NumPy's .npz with `allow_pickle=False` on load: the hashing
parameters as JSON bytes, and for each category the weights of the columns any category uses
(sparse), never a pickle.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import textnorm

FORMAT = "assay-moderation-linear/1"
HASHING = {"analyzer": "char", "ngram_range": [1, 3], "n_features": 2**18, "alternate_sign": False, "norm": "l2",
           "lowercase": False}
MIN_EXAMPLES = 4


class ClassifierError(ValueError):
    """Training data or a stored model that cannot be used."""


def _vectorizer(params: dict):
    from sklearn.feature_extraction.text import HashingVectorizer

    p = dict(params)
    p["ngram_range"] = tuple(p["ngram_range"])
    return HashingVectorizer(dtype=_np().float32, **p)


def _np():
    import numpy

    return numpy


@dataclass
class LinearClassifier:
    """Per-category weights over hashed n-grams; `scores` returns each category's probability."""

    categories: list[str]
    columns: object  # int32 array: the hashed columns that carry weight
    weights: object  # float32 array, len(columns) × len(categories)
    intercepts: object  # float32 array, len(categories)
    hashing: dict
    stats: dict

    def __post_init__(self):
        np = _np()
        self._vectorizer = _vectorizer(self.hashing)
        dense = np.zeros((self.hashing["n_features"], len(self.categories)), dtype=np.float32)
        dense[np.asarray(self.columns, dtype=np.int64)] = self.weights
        self._dense = dense

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Return, for each text, {category: probability}."""
        np = _np()
        if not texts:
            return []
        x = self._vectorizer.transform([textnorm.normalise(t) for t in texts])
        logits = np.asarray(x @ self._dense) + self.intercepts
        probs = 1.0 / (1.0 + np.exp(-logits))
        return [{c: round(float(p), 6) for c, p in zip(self.categories, row, strict=True)} for row in probs]

    def to_bytes(self) -> bytes:
        np = _np()
        meta = {"format": FORMAT, "categories": self.categories, "hashing": self.hashing, "stats": self.stats}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                            columns=np.asarray(self.columns, dtype=np.int32),
                            weights=np.asarray(self.weights, dtype=np.float32),
                            intercepts=np.asarray(self.intercepts, dtype=np.float32))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearClassifier:
        """Load a stored model (NumPy .npz, pickles refused); raise ClassifierError when it is not one."""
        np = _np()
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                columns, weights, intercepts = npz["columns"], npz["weights"], npz["intercepts"]
        except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
            raise ClassifierError(f"not a stored moderation classifier: {exc}") from None
        if meta.get("format") != FORMAT:
            raise ClassifierError(f"unknown classifier format {meta.get('format')!r}")
        n = len(meta["categories"])
        if weights.shape != (len(columns), n) or intercepts.shape != (n,) or \
                meta["hashing"] != HASHING or (len(columns) and columns.max() >= HASHING["n_features"]):
            raise ClassifierError("the stored classifier's arrays do not fit its description")
        return cls(meta["categories"], columns, weights, intercepts, meta["hashing"], meta.get("stats", {}))


def train(texts: Sequence[str], labels: Sequence[set[str]], categories: Sequence[str], *, c: float = 10.0,
          progress=None) -> LinearClassifier:
    """Return a classifier trained on `texts` with their category sets (an empty set: harmless).

    Categories with no positive example, or no negative one, are left out (reported in `stats`).
    """
    np = _np()
    from sklearn.linear_model import LogisticRegression

    if len(texts) < MIN_EXAMPLES:
        raise ClassifierError(f"training needs at least {MIN_EXAMPLES} labelled examples, got {len(texts)}")
    x = _vectorizer(HASHING).transform([textnorm.normalise(t) for t in texts])
    kept, skipped, coefs, intercepts = [], [], [], []
    for n, category in enumerate(categories):
        y = np.array([category in lab for lab in labels], dtype=np.int8)
        if y.sum() == 0 or y.sum() == len(y):
            skipped.append(category)
            continue
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=1000)
        model.fit(x, y)
        kept.append(category)
        coefs.append(model.coef_[0].astype(np.float32))
        intercepts.append(np.float32(model.intercept_[0]))
        if progress:
            progress(int(90 * (n + 1) / len(categories)), f"trained {category}")
    if not kept:
        raise ClassifierError("no category has both positive and negative examples")
    dense = np.stack(coefs, axis=1)
    columns = np.flatnonzero(np.abs(dense).sum(axis=1) > 0).astype(np.int32)
    stats = {"examples": len(texts), "positives": {c: int(sum(c in lab for lab in labels)) for c in kept},
             "skipped": skipped}
    return LinearClassifier(kept, columns, dense[columns], np.array(intercepts, dtype=np.float32),
                            dict(HASHING), stats)
