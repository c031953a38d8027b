"""Plumbing layers of the per-RoI heads: fold RoIs into the batch axis and
back, compute on the valid rows only, pick the positive training RoIs.

The heads run their convolutions on [batch * rois, h, w, c] instead of
wrapping them in TimeDistributed: FoldRois / UnfoldRois move between the
two views. ValidRows / GatherRows / ScatterRows let a head compute only the
rows whose RoI is real (a positive training RoI, a detection).
SelectPositives is the named contract between DetectionTargetLayer and a
head that trains on the positive RoIs only (the mask head).
"""

import keras
import tensorflow as tf
from keras import layers as KL


@keras.saving.register_keras_serializable(package="mrcnn")
class Reshaper(KL.Layer):
    """A layer that only moves values around: keeps its input's dtype (no
    mixed-precision cast)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def compute_output_spec(self, x):
        shape = self.compute_output_shape(tuple(x.shape))
        return keras.KerasTensor(shape, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="mrcnn")
class FoldRois(Reshaper):
    """[batch, rois, ...] -> [batch * rois, ...]."""

    def call(self, x):
        # Keep the static sizes of the trailing axes (the layers after it,
        # e.g. WindowConv2D, use them).
        dynamic = tf.shape(x)
        shape = [-1] + [d if d is not None else dynamic[i + 2]
                        for i, d in enumerate(x.shape[2:])]
        return tf.reshape(x, tf.stack(shape) if any(
            isinstance(d, tf.Tensor) for d in shape) else shape)

    def compute_output_shape(self, input_shape):
        b, n = input_shape[0], input_shape[1]
        return ((b * n if b is not None and n is not None else None),) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="mrcnn")
class UnfoldRois(Reshaper):
    """[batch * rois, ...] -> [batch, rois, ...] for a fixed number of rois."""

    def __init__(self, num_rois, **kwargs):
        super().__init__(**kwargs)
        self.num_rois = int(num_rois)

    def call(self, x):
        return tf.reshape(x, tf.concat([[-1, self.num_rois], tf.shape(x)[1:]], axis=0))

    def compute_output_shape(self, input_shape):
        return (None, self.num_rois) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(num_rois=self.num_rois)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class AnchorsReshape(Reshaper):
    """[batch, h, w, anchors * k] -> [batch, h * w * anchors, k]."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)

    def call(self, x):
        return tf.reshape(x, [tf.shape(x)[0], -1, self.k])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, self.k)

    def get_config(self):
        config = super().get_config()
        config.update(k=self.k)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class ValidRows(KL.Layer):
    """[batch, rois] bool -> int64 [P]: the rows of the folded [batch * rois]
    axis whose RoI is valid (a positive training RoI, a detection), at least
    one (row 0 when none is: empty batches trip some fused CPU kernels)."""

    def call(self, valid):
        flat = tf.reshape(tf.cast(valid, tf.bool), [-1])
        first = tf.equal(tf.range(tf.size(flat)), 0)
        flat = tf.logical_or(flat, tf.logical_and(first, tf.logical_not(tf.reduce_any(flat))))
        return tf.where(flat)[:, 0]

    def compute_output_spec(self, valid):
        return keras.KerasTensor((None,), dtype="int64")


@keras.saving.register_keras_serializable(package="mrcnn")
class GatherRows(Reshaper):
    """([N, ...], rows [P]) -> [P, ...]."""

    def call(self, inputs):
        x, rows = inputs
        return tf.gather(x, rows)

    def compute_output_spec(self, inputs):
        x, _ = inputs
        return keras.KerasTensor((None,) + tuple(x.shape[1:]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="mrcnn")
class ScatterRows(Reshaper):
    """([P, ...], rows [P], valid [batch, rois]) -> [batch * rois, ...] with
    zeros in the rows not computed."""

    def call(self, inputs):
        x, rows, valid = inputs
        # Row 0 stands in when no row is valid: its values are dropped.
        keep = tf.gather(tf.reshape(tf.cast(valid, x.dtype), [-1]), rows)
        x = x * tf.reshape(keep, [-1] + [1] * (len(x.shape) - 1))
        shape = tf.concat([tf.reshape(tf.size(valid, out_type=tf.int64), [1]),
                           tf.shape(x, out_type=tf.int64)[1:]], axis=0)
        return tf.scatter_nd(rows[:, None], x, shape)

    def compute_output_spec(self, inputs):
        x, _, valid = inputs
        n = (valid.shape[0] * valid.shape[1]
             if valid.shape[0] is not None and valid.shape[1] is not None else None)
        return keras.KerasTensor((n,) + tuple(x.shape[1:]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="mrcnn")
class SelectPositives(Reshaper):
    """The positive training RoIs of each image, by their target class id
    (> 0), wherever DetectionTargetLayer put them.

    Inputs: target_class_ids [batch, rois] and any number of per-RoI
    tensors [batch, rois, ...] (RoIs, mask targets, ...).
    Outputs: [target_class_ids, *tensors], each cut to [batch, count, ...]:
    the positives first, in their order, then zero rows (class id 0). No
    image has more than `count` positives under DetectionTargetLayer's
    sampling (TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO); extra ones would
    be dropped.
    """

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, inputs):
        class_ids, *tensors = inputs
        positive = class_ids > 0
        # A stable sort on "not positive" puts the positives first, in order.
        order = tf.argsort(tf.cast(tf.logical_not(positive), tf.int32), axis=1, stable=True)
        order = order[:, :self.count]
        keep = tf.gather(positive, order, batch_dims=1)
        out = []
        for x in [class_ids] + tensors:
            picked = tf.gather(x, order, batch_dims=1)
            mask = tf.reshape(keep, tf.concat([tf.shape(keep), tf.ones([len(x.shape) - 2],
                                                                        tf.int32)], 0))
            out.append(tf.where(mask, picked, tf.zeros_like(picked)))
        return out

    def compute_output_spec(self, inputs):
        return [keras.KerasTensor((x.shape[0], self.count) + tuple(x.shape[2:]), dtype=x.dtype)
                for x in inputs]

    def get_config(self):
        config = super().get_config()
        config.update(count=self.count)
        return config
