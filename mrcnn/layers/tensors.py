"""Small graph layers between the stages: float32 islands (box
coordinates, metas, targets and losses stay float32 under a
mixed-precision policy), the training model's constant anchors, box
normalisation, fields of the detections, and the loss wrapper.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers as KL

from mrcnn import losses as L
from mrcnn.molding.meta import meta_active_class_ids
from mrcnn.ops import norm_boxes_graph


@keras.saving.register_keras_serializable(package="mrcnn")
class Float32Layer(KL.Layer):
    """A graph layer that always computes in float32, whatever the
    mixed-precision policy."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)


@keras.saving.register_keras_serializable(package="mrcnn")
class ConstantAnchors(Float32Layer):
    """The training model's anchors (its input size is fixed).

    Input: the image batch [batch, h, w, c] (for the batch size).
    Output: float32 [batch, anchors, (y1, x1, y2, x2)] normalised.
    """

    def __init__(self, anchors, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, np.float32)

    def call(self, image):
        anchors = tf.constant(self.anchors)
        return tf.broadcast_to(anchors[None], [tf.shape(image)[0]] + list(self.anchors.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.anchors.shape

    def get_config(self):
        config = super().get_config()
        config.update(anchors=self.anchors.tolist())
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class NormBoxes(Float32Layer):
    """([batch, N, 4] pixel boxes, image [batch, h, w, c]) -> normalised."""

    def call(self, inputs):
        boxes, image = inputs
        return norm_boxes_graph(tf.cast(boxes, tf.float32), tf.shape(image)[1:3])


@keras.saving.register_keras_serializable(package="mrcnn")
class ActiveClassIds(Float32Layer):
    """image_meta [batch, IMAGE_META_SIZE] -> active_class_ids [batch, classes]."""

    def call(self, image_meta):
        return meta_active_class_ids(image_meta)


@keras.saving.register_keras_serializable(package="mrcnn")
class Identity(Float32Layer):
    """A named copy (e.g. ``output_rois``)."""

    def call(self, x):
        return tf.identity(x)


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionBoxes(Float32Layer):
    """detections [batch, N, 6] -> boxes [batch, N, (y1, x1, y2, x2)]."""

    def call(self, detections):
        return detections[..., :4]


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionClassIds(Float32Layer):
    """detections [batch, N, 6] -> class ids [batch, N] (float, 0 = padding)."""

    def call(self, detections):
        return detections[..., 4]


@keras.saving.register_keras_serializable(package="mrcnn")
class Positive(Float32Layer):
    """x > 0 as bool (class ids: real RoIs / detections)."""

    def call(self, x):
        return tf.greater(x, 0)

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="mrcnn")
class LossLayer(Float32Layer):
    """One of mrcnn.losses.LOSSES, by name, as a layer with a scalar output.
    The layer is named after the loss unless given another name."""

    def __init__(self, loss, **kwargs):
        kwargs.setdefault("name", loss)
        super().__init__(**kwargs)
        if loss not in L.LOSSES:
            raise ValueError("unknown loss {!r}; known: {}".format(loss, ", ".join(L.LOSSES)))
        self.loss = loss

    def call(self, inputs):
        return L.LOSSES[self.loss](*inputs)

    def compute_output_shape(self, input_shape):
        return ()

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss)
        return config
