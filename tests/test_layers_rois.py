"""mrcnn.layers.rois: folding RoIs into the batch axis and back, valid
rows, and SelectPositives (the positive training RoIs by class id)."""

import numpy as np
import tensorflow as tf

from mrcnn.layers.rois import (AnchorsReshape, FoldRois, GatherRows, ScatterRows,
                               SelectPositives, UnfoldRois, ValidRows)


def test_fold_unfold_round_trip():
    x = tf.reshape(tf.range(2 * 3 * 4 * 5, dtype=tf.float32), [2, 3, 4, 5])
    folded = FoldRois()(x)
    assert folded.shape == (6, 4, 5)
    np.testing.assert_array_equal(folded[4], x[1, 1])
    np.testing.assert_array_equal(UnfoldRois(3)(folded), x)
    y = AnchorsReshape(2)(tf.reshape(tf.range(2 * 2 * 3 * 6, dtype=tf.float32), [2, 2, 3, 6]))
    assert y.shape == (2, 18, 2)
    np.testing.assert_array_equal(y[0, 3], [6, 7])   # cell (0, 1), anchor 0


def test_valid_rows_gather_scatter():
    valid = tf.constant([[True, False, True], [False, False, True]])
    rows = ValidRows()(valid)
    np.testing.assert_array_equal(rows, [0, 2, 5])
    x = tf.reshape(tf.range(6 * 2, dtype=tf.float32), [6, 2]) + 1
    picked = GatherRows()([x, rows])
    np.testing.assert_array_equal(picked, tf.gather(x, [0, 2, 5]))
    back = ScatterRows()([picked, rows, valid]).numpy()
    np.testing.assert_array_equal(back[[0, 2, 5]], picked)
    assert not back[[1, 3, 4]].any()
    # No valid row: row 0 is computed (never an empty batch) and dropped.
    none = tf.zeros([2, 3], tf.bool)
    rows = ValidRows()(none)
    np.testing.assert_array_equal(rows, [0])
    assert not ScatterRows()([tf.gather(x, rows), rows, none]).numpy().any()


def test_select_positives_by_class_id_not_position():
    """Positives wherever they stand come first, in order; the rest is 0."""
    class_ids = tf.constant([[0, 3, 0, 1, 2], [0, 0, 0, 0, 0]], tf.int32)
    rois = tf.reshape(tf.range(1, 41, dtype=tf.float32), [2, 5, 4])
    masks = tf.reshape(tf.range(1, 1 + 2 * 5 * 2 * 2, dtype=tf.float32), [2, 5, 2, 2])
    ids, picked, picked_masks = SelectPositives(3)([class_ids, rois, masks])
    np.testing.assert_array_equal(ids, [[3, 1, 2], [0, 0, 0]])
    np.testing.assert_array_equal(picked[0], tf.gather(rois[0], [1, 3, 4]))
    np.testing.assert_array_equal(picked[1], np.zeros((3, 4)))
    np.testing.assert_array_equal(picked_masks[0], tf.gather(masks[0], [1, 3, 4]))
    # Fewer slots than positives: the first ones are kept.
    ids, _ = SelectPositives(2)([class_ids, rois])
    np.testing.assert_array_equal(ids, [[3, 1], [0, 0]])
    # Positives first (DetectionTargetLayer's layout): the same as slicing.
    first = tf.constant([[2, 1, 0, 0, 0]], tf.int32)
    ids, picked = SelectPositives(3)([first, rois[:1]])
    np.testing.assert_array_equal(picked[0, :2], rois[0, :2])
    assert SelectPositives.from_config(SelectPositives(3).get_config()).count == 3
