"""PyramidROIAlign: RoIAlign over the levels of the feature pyramid."""

import keras
import tensorflow as tf


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

    Inputs:
        boxes: [batch, num_boxes, (y1, x1, y2, x2)] normalised, zero-padded.
        image_meta: [batch, IMAGE_META_SIZE] (see compose_image_meta); the
            molded image size of the first image sets the level rule.
        feature_maps: P2, P3, P4, P5, each [batch, height, width, channels].
    Returns:
        [batch, num_boxes, pool_height, pool_width, channels].
    """

    def __init__(self, pool_shape, **kwargs):
        super().__init__(**kwargs)
        self.pool_shape = tuple(int(v) for v in pool_shape)

    def call(self, inputs):
        boxes, image_meta = inputs[0], inputs[1]
        feature_maps = inputs[2:]
        image_shape = image_meta[0, 4:6]
        levels = roi_pyramid_level(boxes, image_shape)          # [B, N]
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
            pooled.append(tf.image.crop_and_resize(
                feature_maps[i], level_boxes, box_indices, self.pool_shape, method="bilinear"))
            positions.append(ix)
        pooled = tf.dynamic_stitch(positions, pooled)
        channels = tf.shape(pooled)[-1]
        return tf.reshape(pooled, tf.concat(
            [[batch, num_boxes], self.pool_shape, [channels]], axis=0))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2]) + self.pool_shape + (input_shape[2][-1],)

    def get_config(self):
        config = super().get_config()
        config.update(pool_shape=self.pool_shape)
        return config
