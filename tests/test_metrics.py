import numpy as np
import pytest

from engine.metrics import evaluate_predictions


def test_metrics_match_hand_computed_values():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    result = evaluate_predictions(y_true, y_pred, ["a", "b", "c"], split="val", epoch=1, loss=0.5)

    assert result.accuracy == pytest.approx(3 / 5)
    assert result.confusion == ((1, 1, 0), (0, 2, 0), (1, 0, 0))
    # class a: precision 1/2, recall 1/2; class b: 2/3, 1; class c: 0, 0
    precisions = [row.precision for row in result.per_class]
    recalls = [row.recall for row in result.per_class]
    f1s = [row.f1 for row in result.per_class]
    assert precisions == pytest.approx([1 / 2, 2 / 3, 0])
    assert recalls == pytest.approx([1 / 2, 1, 0])
    assert f1s == pytest.approx([1 / 2, 0.8, 0])
    assert result.f1 == pytest.approx((0.5 + 0.8 + 0) / 3)
    assert result.macro_avg.f1 == pytest.approx(result.f1)
    assert [row.support for row in result.per_class] == [2, 2, 1]
    assert result.weighted_avg.support == 5


def test_absent_classes_still_get_a_full_matrix():
    result = evaluate_predictions(
        np.array([1, 1]), np.array([1, 1]), [str(i) for i in range(10)], split="test", epoch=0, loss=0.0
    )
    assert len(result.confusion) == 10 and all(len(row) == 10 for row in result.confusion)
    assert sum(map(sum, result.confusion)) == 2
