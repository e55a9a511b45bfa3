"""Evaluation metrics on hand-made predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from rgasc.scoring.metrics import (
    confusion_matrix,
    log_loss,
    macro_accuracy,
    mean_average_precision,
    mean_clip_auc,
    overall_accuracy,
    per_class_accuracy,
    per_class_table,
    per_device_accuracy,
    summarize,
)

Y_TRUE = np.array([0, 0, 0, 1, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 0])


def test_accuracies_hand_values() -> None:
    # class 0: 2/3, class 1: 1/1, class 2: 1/2 -> macro 13/18; overall 4/6
    assert macro_accuracy(Y_TRUE, Y_PRED, 3) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    assert overall_accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    np.testing.assert_allclose(per_class_accuracy(Y_TRUE, Y_PRED, 3), [2 / 3, 1.0, 0.5])


def test_perfect_predictions() -> None:
    y = np.array([3, 1, 0, 2, 2, 1])
    assert macro_accuracy(y, y, 4) == 1.0
    assert overall_accuracy(y, y) == 1.0
    np.testing.assert_array_equal(confusion_matrix(y, y, 4), np.diag(np.bincount(y)))


def test_macro_accuracy_invariant_to_class_reordering() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    perm = rng.permutation(5)
    assert macro_accuracy(perm[y], perm[p], 5) == pytest.approx(macro_accuracy(y, p, 5))
    # and not the same as overall accuracy on an unbalanced set
    y2 = np.array([0] * 9 + [1])
    p2 = np.zeros(10, dtype=int)
    assert macro_accuracy(y2, p2, 2) == pytest.approx(0.5)
    assert overall_accuracy(y2, p2) == pytest.approx(0.9)


def test_absent_classes_left_out_of_macro() -> None:
    acc = per_class_accuracy([0, 0, 1], [0, 1, 1], 3)
    assert np.isnan(acc[2])
    assert macro_accuracy([0, 0, 1], [0, 1, 1], 3) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        macro_accuracy([0, 3], [0, 0], 3)


def test_confusion_matrix_rows_true_cols_pred() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_log_loss_known_value_and_clip() -> None:
    probs = np.array([[0.5, 0.5], [0.2, 0.8]])
    assert log_loss([0, 1], probs) == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)
    # a certain mistake is clipped to eps, not infinite
    assert log_loss([0], [[0.0, 1.0]]) == pytest.approx(-math.log(1e-15))
    assert log_loss([1], [[0.0, 1.0]]) == pytest.approx(0.0)


def test_map_toy_case() -> None:
    # soft targets: >= 0.5 is present
    targets = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.0], [0.6, 0.0, 0.1], [0.0, 0.3, 0.2]])
    scores = np.array([[0.9, 0.2, 0.5], [0.8, 0.7, 0.1], [0.3, 0.1, 0.9], [0.1, 0.4, 0.3]])
    # event 0: positives ranked 1st and 3rd -> AP = (1/1 + 2/3) / 2; event 1: AP = 1;
    # event 2 has no positive and is left out
    assert mean_average_precision(targets, scores) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    assert math.isnan(mean_average_precision(np.zeros((2, 2)), np.ones((2, 2))))


def test_clip_auc_toy_case_and_sklearn() -> None:
    targets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.5, 0.7, 0.1], [0.9, 0.2, 0.2], [0.3, 0.2, 0.1]])
    # clip 0: 1 of 2 pairs right -> 0.5; clip 1: one win, one tie -> 0.75; clip 2 skipped
    assert mean_clip_auc(targets, scores) == pytest.approx(0.625)
    rng = np.random.default_rng(1)
    t = rng.random((20, 30))
    s = np.round(rng.random((20, 30)), 1)  # rounding makes ties
    ref = np.mean([roc_auc_score(row >= 0.5, sc) for row, sc in zip(t, s, strict=True)])
    assert mean_clip_auc(t, s) == pytest.approx(ref)


def test_per_device_and_table() -> None:
    dev = ["a", "b", "a", "c", "b", "a"]
    # right/wrong per clip: T T F T T F -> a: clips 0,2,5 = 1/3; b: 1,4 = 2/2; c: 3 = 1/1
    assert per_device_accuracy(Y_TRUE, Y_PRED, dev) == {
        "a": pytest.approx(1 / 3),
        "b": pytest.approx(1.0),
        "c": pytest.approx(1.0),
    }
    rows = per_class_table(Y_TRUE, Y_PRED, ["airport", "bus", "park"])
    assert rows[0] == {"class": "airport", "n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert [r["class"] for r in rows] == ["airport", "bus", "park"]
    assert [r["correct"] for r in rows] == [2, 1, 1]


def test_summarize_bundles() -> None:
    probs = np.eye(3)[Y_PRED] * 0.7 + 0.1
    s = summarize(Y_TRUE, probs, ["a", "b", "c"], devices=["x"] * 6)
    assert s["n"] == 6
    assert s["macro_accuracy"] == pytest.approx(macro_accuracy(Y_TRUE, Y_PRED, 3))
    assert s["overall_accuracy"] == pytest.approx(4 / 6)
    assert s["log_loss"] == pytest.approx(log_loss(Y_TRUE, probs))
    assert s["confusion"] == confusion_matrix(Y_TRUE, Y_PRED, 3).tolist()
    assert s["per_device"] == {"x": pytest.approx(4 / 6)}
    assert "per_device" not in summarize(Y_TRUE, probs, ["a", "b", "c"])


def test_library_backed_metrics_keep_our_conventions_without_warnings() -> None:
    import warnings

    # class 2 is predicted twice but never true: left out of the macro mean (not scored 0,
    # as torchmetrics' macro average would): class 0 = 1/3, class 1 = 2/2 -> (1/3 + 1) / 2
    y, p = [0, 0, 0, 1, 1], [0, 2, 2, 1, 1]
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.25, 0.25, 0.5], [0.0, 0.4, 0.6], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's warnings on these cases are silenced
        assert macro_accuracy(y, p, 4) == pytest.approx(2 / 3)
        np.testing.assert_array_equal(
            confusion_matrix(y, p, 4), [[1, 0, 2, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
        )
        # -log of the true-class probabilities, the 0.0 clipped to 1e-15
        hand = -(math.log(0.7) + math.log(0.25) + math.log(1e-15) + math.log(0.8) + math.log(0.6))
        assert log_loss(y, probs) == pytest.approx(hand / 5, rel=1e-12)
        # float32 softmax rows that sum to 1 only to ~1e-7 are scored as given
        p32 = np.array([[0.3333333, 0.3333333, 0.3333333]], dtype=np.float32)
        assert log_loss([1], p32) == pytest.approx(-math.log(float(p32[0, 1])), rel=1e-12)
    # one class only: the loss is still -log p
    assert log_loss([0, 0], [[1.0], [0.5]]) == pytest.approx(math.log(2) / 2)
    # no clip at all: NaN scores and an all-zero confusion matrix
    assert math.isnan(macro_accuracy([], [], 3)) and math.isnan(log_loss([], np.zeros((0, 3))))
    np.testing.assert_array_equal(confusion_matrix([], [], 2), np.zeros((2, 2), dtype=np.int64))
    assert confusion_matrix([], [], 2).dtype == np.int64
