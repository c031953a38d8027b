"""PyramidROIAlign: RoIAlign over the levels of the feature pyramid."""

import keras
import tensorflow as tf

from mrcnn.layers.portable import portable_default, pyramid_roi_align
from mrcnn.molding.meta import meta_image_shape


def roi_pyramid_level(boxes, image_shape):
    """FPN level (2..5) of each box: floor-free k = 4 + round(log2(sqrt(wh) / 224))
    with w, h in pixels of an image of `image_shape` (h, w); boxes are
    normalised [..., (y1, x1, y2, x2)]. Returns int32 [...]."""
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    image_area = tf.cast(image_shape[0] * image_shape[1], tf.float32)
    # Boxes are normalised, so sqrt(area in pixels) = sqrt(h * w) * sqrt(image_area).
    size = tf.sqrt(tf.maximum(h * w, 1e-12)) / (224.0 / tf.sqrt(image_area))
    level = tf.math.log(size) / tf.math.log(2.0)
    return tf.minimum(5, tf.maximum(2, 4 + tf.cast(tf.round(level), tf.int32)))


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidROIAlign(keras.layers.Layer):
    """RoIAlign of each box on the pyramid level that suits its size.

    Each box is sampled from one of P2..P5 (level 4 + round(log2(sqrt(area) /
    224)), clamped) with `tf.image.crop_and_resize`: bilinear sampling on a
    regular grid, no quantisation of box edges.

    Args:
        pool_shape: (height, width) of the output, e.g. (7, 7) or (14, 14).
        portable: bilinear gathers from the flattened levels instead of
            CropAndResize and DynamicStitch (mrcnn.layers.portable; equal to
            float32 round-off); default: whether the layer is built inside
            portable_ops().

    Inputs:
        boxes: [batch, num_boxes, (y1, x1, y2, x2)] normalised, zero-padded.
        image_meta: [batch, IMAGE_META_SIZE] (see compose_image_meta); the
            molded image size of the first image sets the level rule.
        feature_maps: P2, P3, P4, P5, each [batch, height, width, channels].
    Returns:
        [batch, num_boxes, pool_height, pool_width, channels], of the
        feature maps' dtype (bfloat16/float16 under mixed precision; the
        boxes and the level rule are always float32: no autocast).
    """

    def __init__(self, pool_shape, portable=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.pool_shape = tuple(int(v) for v in pool_shape)
        self.portable = portable_default(portable)

    def call(self, inputs):
        boxes = tf.cast(inputs[0], tf.float32)
        image_meta = tf.cast(inputs[1], tf.float32)
        feature_maps = inputs[2:]
        image_shape = meta_image_shape(image_meta)[0, :2]
        levels = roi_pyramid_level(boxes, image_shape)          # [B, N]
        if self.portable:
            pooled = pyramid_roi_align(tf.stop_gradient(boxes), levels, feature_maps,
                                       self.pool_shape)
            return tf.cast(pooled, feature_maps[0].dtype)
        batch = tf.shape(boxes)[0]
        num_boxes = tf.shape(boxes)[1]
        flat_boxes = tf.reshape(boxes, [-1, 4])
        flat_levels = tf.reshape(levels, [-1])
        flat_batch_ix = tf.repeat(tf.range(batch), num_boxes)
        positions, pooled = [], []
        for i, level in enumerate(range(2, 6)):
            ix = tf.cast(tf.where(tf.equal(flat_levels, level))[:, 0], tf.int32)
            # Boxes are inputs, not learned through RoIAlign (as in the paper).
            level_boxes = tf.stop_gradient(tf.gather(flat_boxes, ix))
            box_indices = tf.stop_gradient(tf.gather(flat_batch_ix, ix))
            fmap = feature_maps[i]
            if fmap.dtype == tf.bfloat16:  # crop_and_resize has no bfloat16 kernel
                fmap = tf.cast(fmap, tf.float32)
            pooled.append(tf.image.crop_and_resize(
                fmap, level_boxes, box_indices, self.pool_shape, method="bilinear"))
            positions.append(ix)
        pooled = tf.cast(tf.dynamic_stitch(positions, pooled), feature_maps[0].dtype)
        channels = tf.shape(pooled)[-1]
        return tf.reshape(pooled, tf.concat(
            [[batch, num_boxes], self.pool_shape, [channels]], axis=0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2]) + self.pool_shape + (input_shape[2][-1],)

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape([tuple(x.shape) for x in inputs])
        return keras.KerasTensor(shape, dtype=inputs[2].dtype)

    def get_config(self):
        config = super().get_config()
        config.update(pool_shape=self.pool_shape, portable=self.portable)
        return config
