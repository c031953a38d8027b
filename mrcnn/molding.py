"""How images enter the network and detections leave it (NumPy side).

`mold_image` normalises pixels, `compose_image_meta` packs what the network
must know about each image (original size, window inside the padding, scale,
active classes) into one vector, and `unmold_detections` maps the network's
normalised outputs back to boxes and full-size masks of the original image.
All are importable from `mrcnn.model`, as in matterport.
"""

import math

import numpy as np

from mrcnn import utils
from mrcnn.config import BUILTIN_BACKBONES


def compute_backbone_shapes(config, image_shape):
    """[levels, (height, width)] of the pyramid feature maps for an input of
    `image_shape`: ceil(size / stride) per level of config.BACKBONE_STRIDES.
    A callable BACKBONE uses config.COMPUTE_BACKBONE_SHAPE instead."""
    if callable(config.BACKBONE):
        return config.COMPUTE_BACKBONE_SHAPE(image_shape)
    if config.BACKBONE not in BUILTIN_BACKBONES:
        raise ValueError("config.BACKBONE = {!r}: expected one of {} or a callable".format(
            config.BACKBONE, ", ".join(BUILTIN_BACKBONES)))
    return np.array(
        [[int(math.ceil(image_shape[0] / stride)),
          int(math.ceil(image_shape[1] / stride))]
         for stride in config.BACKBONE_STRIDES])


def mold_image(images, config):
    """Image(s) as float with config.MEAN_PIXEL subtracted (float64 when
    MEAN_PIXEL is a float64 array, as in matterport)."""
    return images.astype(np.float32) - config.MEAN_PIXEL


def unmold_image(normalized_images, config):
    """Inverse of `mold_image` (back to uint8)."""
    return (normalized_images + config.MEAN_PIXEL).astype(np.uint8)


def compose_image_meta(image_id, original_image_shape, image_shape,
                       window, scale, active_class_ids):
    """Pack an image's attributes into one 1-D array of length
    12 + NUM_CLASSES (config.IMAGE_META_SIZE):

    [image_id, original (h, w, c), molded (h, w, c), window (y1, x1, y2, x2)
    in molded pixels, scale, active_class_ids (1 per class in the image's
    source dataset)].
    """
    return np.array(
        [image_id] +
        list(original_image_shape) +
        list(image_shape) +
        list(window) +
        [scale] +
        list(active_class_ids)
    )


def parse_image_meta(meta):
    """Unpack a batch [B, IMAGE_META_SIZE] of image metas into a dict of
    arrays: image_id, original_image_shape, image_shape, window (int32),
    scale (float32), active_class_ids (int32)."""
    meta = np.asarray(meta)
    return {
        "image_id": meta[:, 0].astype(np.int32),
        "original_image_shape": meta[:, 1:4].astype(np.int32),
        "image_shape": meta[:, 4:7].astype(np.int32),
        "window": meta[:, 7:11].astype(np.int32),
        "scale": meta[:, 11].astype(np.float32),
        "active_class_ids": meta[:, 12:].astype(np.int32),
    }


def parse_image_meta_graph(meta):
    """`parse_image_meta` for a tensor [B, IMAGE_META_SIZE]; values keep the
    tensor's dtype (float32)."""
    return {
        "image_id": meta[:, 0],
        "original_image_shape": meta[:, 1:4],
        "image_shape": meta[:, 4:7],
        "window": meta[:, 7:11],
        "scale": meta[:, 11],
        "active_class_ids": meta[:, 12:],
    }


def unmold_detections(detections, mrcnn_mask, original_image_shape,
                      image_shape, window):
    """Turn one image's network outputs into boxes and masks of the original
    image.

    detections: [N, (y1, x1, y2, x2, class_id, score)], normalised
        coordinates of the molded image, zero-padded after the last one.
    mrcnn_mask: [N, height, width, num_classes] float masks.
    original_image_shape: [H, W, C] before resizing.
    image_shape: [H, W, C] after resizing and padding.
    window: [y1, x1, y2, x2] pixels of the real image inside the padding.

    Returns:
        boxes: int32 [N, (y1, x1, y2, x2)] in original pixels.
        class_ids: int32 [N].
        scores: [N].
        masks: bool [H, W, N] full-size masks.
    Detections whose box has no area in the original image are dropped.
    """
    detections = np.asarray(detections)
    zero_ix = np.where(detections[:, 4] == 0)[0]
    n = zero_ix[0] if zero_ix.shape[0] > 0 else detections.shape[0]

    boxes = detections[:n, :4]
    class_ids = detections[:n, 4].astype(np.int32)
    scores = detections[:n, 5]
    masks = mrcnn_mask[np.arange(n), :, :, class_ids]

    # Normalised coordinates of the molded image -> of the window -> pixels
    # of the original image.
    wy1, wx1, wy2, wx2 = utils.norm_boxes(window, image_shape[:2])
    shift = np.array([wy1, wx1, wy1, wx1])
    wh = wy2 - wy1
    ww = wx2 - wx1
    scale = np.array([wh, ww, wh, ww])
    boxes = np.divide(boxes - shift, scale)
    boxes = utils.denorm_boxes(boxes, original_image_shape[:2])

    # Boxes can collapse to nothing, e.g. early in training.
    heights = boxes[:, 2].astype(np.int64) - boxes[:, 0]
    keep = np.where(heights * (boxes[:, 3] - boxes[:, 1]) > 0)[0]
    if keep.shape[0] < n:
        boxes, class_ids, scores, masks = boxes[keep], class_ids[keep], scores[keep], masks[keep]
        n = class_ids.shape[0]

    if n == 0:
        return boxes, class_ids, scores, np.empty(tuple(original_image_shape[:2]) + (0,))
    # Paste each mask into one preallocated [H, W, N] array, touching only its
    # box (utils.unmold_mask would allocate a full-size mask per detection).
    full_masks = np.zeros(tuple(original_image_shape[:2]) + (n,), dtype=bool)
    for i in range(n):
        y1, x1, y2, x2 = boxes[i]
        full_masks[y1:y2, x1:x2, i] = utils.mask_to_box(masks[i], boxes[i])
    return boxes, class_ids, scores, full_masks
