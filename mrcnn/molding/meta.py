"""The image meta: one float vector per image that tells the network (and
unmolding) what resizing did to it. Its layout is defined here and only here;
everything else reads it through the accessors below, which take a NumPy
array or a tensor, one meta [META] or a batch [..., META]:

| field | index | accessor | meaning |
|---|---|---|---|
| image_id | 0 | `meta_image_id` | the dataset's image id (0 in detect()) |
| original_image_shape | 1:4 | `meta_original_shape` | (h, w, c) before resizing |
| image_shape | 4:7 | `meta_image_shape` | (h, w, c) of the molded (resized, padded) image |
| window | 7:11 | `meta_window` | (y1, x1, y2, x2) of the image inside the padding, molded pixels, (y2, x2) exclusive |
| scale | 11 | `meta_scale` | the resize factor |
| active_class_ids | 12: | `meta_active_class_ids` | 1 per class of the image's source dataset |

`compose_image_meta` (NumPy) and `compose_image_meta_graph` (TensorFlow) build
it; `parse_image_meta` / `parse_image_meta_graph` unpack a batch into a dict.
This module imports only NumPy (TensorFlow inside the graph twin), so
`mrcnn.config` can use it.
"""

import numpy as np

# (name, length) in vector order; active_class_ids (NUM_CLASSES long) follows.
META_FIELDS = (("image_id", 1), ("original_image_shape", 3), ("image_shape", 3),
               ("window", 4), ("scale", 1))
_START = {}
_offset = 0
for _name, _length in META_FIELDS:
    _START[_name] = _offset
    _offset += _length
# Length of the meta without the class list: 12.
META_FIXED_SIZE = _offset
del _name, _length, _offset


def image_meta_size(num_classes):
    """Length of an image meta for `num_classes` classes (config.IMAGE_META_SIZE)."""
    return META_FIXED_SIZE + int(num_classes)


def _field(meta, name):
    start = _START[name]
    length = dict(META_FIELDS)[name]
    if length == 1:
        return meta[..., start]
    return meta[..., start:start + length]


def meta_image_id(meta):
    """image_id of each meta: [...]."""
    return _field(meta, "image_id")


def meta_original_shape(meta):
    """(h, w, c) of the original image: [..., 3]."""
    return _field(meta, "original_image_shape")


def meta_image_shape(meta):
    """(h, w, c) of the molded image (the network's input): [..., 3]."""
    return _field(meta, "image_shape")


def meta_window(meta):
    """(y1, x1, y2, x2) of the image inside the padding, molded pixels: [..., 4]."""
    return _field(meta, "window")


def meta_scale(meta):
    """The resize factor: [...]."""
    return _field(meta, "scale")


def meta_active_class_ids(meta):
    """1 for each class of the image's source dataset: [..., NUM_CLASSES]."""
    return meta[..., META_FIXED_SIZE:]


def compose_image_meta(image_id, original_image_shape, image_shape,
                       window, scale, active_class_ids):
    """Pack an image's attributes into one float64 array of length
    12 + NUM_CLASSES (config.IMAGE_META_SIZE), in the layout of the module
    docstring."""
    return np.array(
        [image_id] +
        list(original_image_shape) +
        list(image_shape) +
        list(window) +
        [scale] +
        list(active_class_ids)
    )


def compose_image_meta_graph(original_shape, image_shape, window, scale, num_classes):
    """TensorFlow twin of `compose_image_meta` for detect()'s metas (image_id
    0, no active classes): float32 [IMAGE_META_SIZE], built in float64 and
    cast like NumPy's float64 meta fed to the network as float32.

    original_shape, image_shape: (h, w, c) integer tensors; window: 4
    integers; scale: a float64 scalar.
    """
    import tensorflow as tf

    meta = tf.concat([
        tf.zeros([1], tf.float64),
        tf.cast(tf.concat([original_shape, image_shape, window], axis=0), tf.float64),
        tf.reshape(tf.cast(scale, tf.float64), [1]),
        tf.zeros([int(num_classes)], tf.float64)], axis=0)
    return tf.cast(meta, tf.float32)


def parse_image_meta(meta):
    """Unpack a batch [B, IMAGE_META_SIZE] of image metas into a dict of
    arrays: image_id, original_image_shape, image_shape, window (int32),
    scale (float32), active_class_ids (int32)."""
    meta = np.asarray(meta)
    return {
        "image_id": meta_image_id(meta).astype(np.int32),
        "original_image_shape": meta_original_shape(meta).astype(np.int32),
        "image_shape": meta_image_shape(meta).astype(np.int32),
        "window": meta_window(meta).astype(np.int32),
        "scale": meta_scale(meta).astype(np.float32),
        "active_class_ids": meta_active_class_ids(meta).astype(np.int32),
    }


def parse_image_meta_graph(meta):
    """`parse_image_meta` for a tensor [B, IMAGE_META_SIZE]; values keep the
    tensor's dtype (float32)."""
    return {
        "image_id": meta_image_id(meta),
        "original_image_shape": meta_original_shape(meta),
        "image_shape": meta_image_shape(meta),
        "window": meta_window(meta),
        "scale": meta_scale(meta),
        "active_class_ids": meta_active_class_ids(meta),
    }
