"""Calibrating the match verdict (`semplan.verdict`) on hand-labelled clause pairs.

The pairs (tests/data/pairs/clause-pairs.jsonl: same / related / different) are split in two by
their id: odd ids calibrate, even ids are held out. The two cosine thresholds are the pair that
maximises macro-F1 of the three labels on the calibration half; precision and recall of `same`
and `related` are then measured on the held-out half. A second check uses a gold file's queries
(tests/data/dev-gold.json): each query against its expected matches should be `same`; against the
expected matches of the other queries in the same plan it should not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semplan.errors import EvalError
from semplan.mask import mask_names
from semplan.normalize import matching_text
from semplan.verdict import VERDICTS, Calibration, calibration_key


@dataclass(frozen=True)
class LabelledPair:
    pair_id: str
    text_a: str
    text_b: str
    label: str


def read_clause_pairs(path: str | Path) -> list[LabelledPair]:
    """The pairs of a clause-pairs JSONL file (format: tests/data/pairs/README.md)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise EvalError(f"{path}: cannot read ({error.strerror or error})") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            pair = LabelledPair(str(record["id"]), record["a"]["text"], record["b"]["text"], record["label"])
        except (ValueError, KeyError, TypeError):
            raise EvalError(f"{path}:{number}: not a clause pair (id, a.text, b.text, label)") from None
        if pair.label not in VERDICTS:
            raise EvalError(f"{path}:{number}: label {pair.label!r} is not one of {', '.join(VERDICTS)}")
        pairs.append(pair)
    return pairs


def is_held_out(pair_id: str) -> bool:
    digits = "".join(ch for ch in pair_id if ch.isdigit())
    return bool(digits) and int(digits) % 2 == 0


def pair_scores(encoder, pairs_of_texts: Sequence[tuple[str, str]]) -> np.ndarray:
    """Cosine scores of text pairs, each text normalised and masked as clauses are when indexed."""
    def prepared(texts):
        return [mask_names(matching_text(text)) for text in texts]

    a = encoder.encode_clauses(prepared(text for text, _ in pairs_of_texts))
    b = encoder.encode_clauses(prepared(text for _, text in pairs_of_texts))
    return (np.asarray(a) * np.asarray(b)).sum(axis=1)


def label_figures(labels: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and support of each verdict."""
    figures = {}
    for verdict in VERDICTS:
        true = sum(1 for label, guess in zip(labels, predicted, strict=True) if label == guess == verdict)
        said = sum(1 for guess in predicted if guess == verdict)
        real = sum(1 for label in labels if label == verdict)
        figures[verdict] = {
            "precision": round(true / said, 3) if said else 0.0,
            "recall": round(true / real, 3) if real else 0.0,
            "support": real,
        }
    return figures


def fit_thresholds(scores: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """(same, related) cosine thresholds maximising macro-F1 on these pairs (ties: the first found)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.array([VERDICTS.index(label) for label in labels])
    candidates = np.unique(np.round(scores, 4))
    best, best_f1 = (float(candidates[-1]), float(candidates[0])), -1.0
    for related in candidates:
        sames = candidates[candidates >= related]
        # predicted[t, i]: 0 same, 1 related, 2 different for each candidate `same` threshold t
        predicted = np.where(scores[None, :] >= sames[:, None], 0, np.where(scores[None, :] >= related, 1, 2))
        f1 = np.zeros(len(sames))
        for verdict in range(3):
            true = ((predicted == verdict) & (truth[None, :] == verdict)).sum(axis=1)
            said = (predicted == verdict).sum(axis=1)
            real = (truth == verdict).sum()
            f1 += np.where(said + real > 0, 2 * true / np.maximum(said + real, 1), 0.0)
        top = int(np.argmax(f1))
        if f1[top] / 3 > best_f1:
            best, best_f1 = (float(sames[top]), float(related)), f1[top] / 3
    return best


@dataclass
class VerdictCalibration:
    """Thresholds fitted on one half of the pairs and the figures measured on the other."""

    model: str
    revision: str
    same: float
    related: float
    n_calibration: int
    held_out: dict[str, dict[str, float]]
    gold_check: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        """This model's record in semplan/data/verdicts.json."""
        return {
            "same": self.same,
            "related": self.related,
            "method": "cosine thresholds maximising macro-F1 on the odd-id half of tests/data/pairs; figures on the even-id half",
            "n_calibration_pairs": self.n_calibration,
            "held_out": self.held_out,
            "dev_gold": self.gold_check,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, **self.entry()}

    def lines(self, **sources: str) -> list[str]:
        out = [f"{name}: {value}" for name, value in sources.items()]
        out.append(f"model: {self.model} (revision {self.revision})")
        out.append(f"thresholds: same ≥ {self.same:.4f}, related ≥ {self.related:.4f} "
                   f"(fitted on {self.n_calibration} pairs)")
        out.append("held-out pairs   precision  recall  support")
        for verdict in VERDICTS:
            figure = self.held_out[verdict]
            out.append(f"  {verdict:<10} {figure['precision']:>10.3f} {figure['recall']:>7.3f} {figure['support']:>8}")
        if self.gold_check:
            check = self.gold_check
            out.append(f"dev-gold: {check['same_recall']:.3f} of {check['n_matches']} expected matches are `same`, "
                       f"{check['not_different_recall']:.3f} not `different`; {check['false_same_rate']:.3f} of "
                       f"{check['n_others']} other queries' matches are `same`")
        return out


def calibrate_verdicts(pairs: Sequence[LabelledPair], encoder, gold: dict | None = None) -> VerdictCalibration:
    """Fit the thresholds on the calibration half, measure on the held-out half (and on `gold`)."""
    if not pairs:
        raise EvalError("no clause pairs to calibrate on")
    scores = pair_scores(encoder, [(pair.text_a, pair.text_b) for pair in pairs])
    held = np.array([is_held_out(pair.pair_id) for pair in pairs])
    labels = [pair.label for pair in pairs]
    same, related = fit_thresholds(scores[~held], [label for label, h in zip(labels, held, strict=True) if not h])
    calibration = Calibration("", "", same, related)
    held_labels = [label for label, h in zip(labels, held, strict=True) if h]
    held_out = label_figures(held_labels, [calibration.verdict(s) for s in scores[held]])
    identity = encoder.identity()
    result = VerdictCalibration(str(identity["model"]), str(identity.get("revision") or ""), same, related,
                                int((~held).sum()), held_out)
    if gold is not None:
        result.gold_check = _gold_check(gold, encoder, calibration)
    return result


def _gold_check(gold: dict, encoder, calibration: Calibration) -> dict[str, Any]:
    positives, negatives = [], []
    for query in gold.get("queries", []):
        for match in query.get("matches", []):
            for snippet in match.get("snippets", []):
                positives.append((query["query"], snippet))
            for other in gold.get("queries", []):
                if other is query:
                    continue
                for other_match in other.get("matches", []):
                    if other_match["plan"] == match["plan"]:
                        negatives.extend((query["query"], snippet) for snippet in other_match.get("snippets", []))
    positive = [calibration.verdict(s) for s in pair_scores(encoder, positives)] if positives else []
    negative = [calibration.verdict(s) for s in pair_scores(encoder, negatives)] if negatives else []
    return {
        "n_matches": len(positive),
        "same_recall": round(positive.count("same") / max(len(positive), 1), 3),
        "not_different_recall": round(1 - positive.count("different") / max(len(positive), 1), 3),
        "n_others": len(negative),
        "false_same_rate": round(negative.count("same") / max(len(negative), 1), 3),
    }


def save_calibration(result: VerdictCalibration, path: str | Path) -> None:
    """Add or replace this model's entry in a verdicts file."""
    from semplan._fs import read_json, write_json_atomic

    data = read_json(path) or {}
    data[calibration_key(result.model, result.revision)] = result.entry()
    write_json_atomic(path, dict(sorted(data.items())))
