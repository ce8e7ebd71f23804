"""Classification metrics, all from scikit-learn, turned into the plain values events carry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from engine.events import ClassReport, Evaluated, Split


def _report_row(name: str, row: dict) -> ClassReport:
    return ClassReport(name, float(row["precision"]), float(row["recall"]), float(row["f1-score"]), int(row["support"]))


def evaluate_predictions(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    *,
    split: Split,
    epoch: int,
    loss: float,
) -> Evaluated:
    labels = list(range(len(class_names)))
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=list(class_names), output_dict=True, zero_division=0
    )
    return Evaluated(
        split=split,
        epoch=epoch,
        loss=float(loss),
        accuracy=float(accuracy_score(y_true, y_pred)),
        f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        confusion=tuple(tuple(int(c) for c in row) for row in confusion_matrix(y_true, y_pred, labels=labels)),
        per_class=tuple(_report_row(name, report[name]) for name in class_names),
        macro_avg=_report_row("macro avg", report["macro avg"]),
        weighted_avg=_report_row("weighted avg", report["weighted avg"]),
    )
