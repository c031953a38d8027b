"""Semantic maps on the data side (NumPy): the training target of the
semantic head (mrcnn.heads.semantic), loaded from a dataset's
``load_semantic`` and moved with the image through resizing, padding,
cropping, flips and augmentation.

Labels
------
A dataset's ``load_semantic(image_id)`` gives an int ``[H, W]`` map of
internal class ids: a stuff class id, 0 on things and "other", and a
negative value on void pixels (unlabelled; `mrcnn.data.panoptic.
PanopticDataset.load_semantic` marks them so when asked with
``void=-1``). The head's label map (``input_gt_semantic``, int32 at the
molded size) numbers the pixels in the head's order: k for the k-th class of
``config.stuff_class_ids()``, 0 for every other class (things, background),
-1 (`VOID_LABEL`) for void and for the padding around the image; the loss
ignores -1.

Resizing and augmentation treat the map as a mask (nearest neighbour). It
travels as ``label + 1`` in a uint8 (uint16 beyond 254 stuff classes)
mask, so pixels an augmentation brings in from outside the image (filled
with 0) become void.
"""

import inspect

import numpy as np

from mrcnn.masks import resize_mask

VOID_LABEL = -1
"""The label of void pixels and of the padding: the loss ignores them."""


def has_semantic(config):
    """Whether the config has the semantic head (NUM_STUFF_CLASSES > 0)."""
    return bool(getattr(config, "NUM_STUFF_CLASSES", 0))


def label_table(config):
    """int32 [NUM_CLASSES]: the head's label of each internal class id (k
    for the k-th stuff class, 0 for the others)."""
    table = np.zeros([int(config.NUM_CLASSES)], np.int32)
    for k, class_id in enumerate(config.stuff_class_ids(), start=1):
        table[class_id] = k
    return table


def _accepts_void(method):
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "void" in params


def load_semantic_labels(dataset, config, image_id, image_shape, where):
    """The dataset's semantic map of an image as the head's labels: int32
    [H, W] (see the module docstring). Raises ValueError naming the image
    (`where`) when the dataset has no load_semantic or its map does not fit
    the image or the config's classes."""
    method = getattr(dataset, "load_semantic", None)
    if method is None:
        raise ValueError("{}: config.NUM_STUFF_CLASSES is {} but the dataset ({}) has no "
                         "load_semantic(image_id) to train the semantic head on (see "
                         "mrcnn.data.panoptic.PanopticDataset)".format(
                             where, config.NUM_STUFF_CLASSES, type(dataset).__name__))
    raw = method(image_id, void=VOID_LABEL) if _accepts_void(method) else method(image_id)
    semantic = np.asarray(raw)
    if semantic.shape != tuple(image_shape[:2]):
        raise ValueError("{}: load_semantic returned a map of shape {} for an image of "
                         "{}x{}".format(where, semantic.shape, image_shape[0], image_shape[1]))
    if semantic.size and not (np.issubdtype(semantic.dtype, np.integer)
                              or semantic.dtype == bool):
        raise ValueError("{}: load_semantic must return integer class ids, got dtype "
                         "{}".format(where, semantic.dtype))
    semantic = semantic.astype(np.int64)
    if semantic.size and semantic.max() >= config.NUM_CLASSES:
        raise ValueError("{}: load_semantic has class id {} but config.NUM_CLASSES is "
                         "{}".format(where, int(semantic.max()), config.NUM_CLASSES))
    table = label_table(config)
    labels = table[np.maximum(semantic, 0)]
    labels[semantic < 0] = VOID_LABEL
    return labels.astype(np.int32)


def encode(labels):
    """Labels int [H, W] -> the mask that carries them (label + 1; uint8,
    or uint16 when a label exceeds 254)."""
    labels = np.asarray(labels)
    dtype = np.uint8 if labels.size == 0 or labels.max() < 255 else np.uint16
    return (labels.astype(np.int64) + 1).astype(dtype)


def decode(mask):
    """The inverse of `encode`: int32 labels, 0 in the mask becoming void."""
    return np.asarray(mask).astype(np.int32) - 1


def resize_labels(labels, scale, padding, crop=None):
    """Labels [H, W] moved like the image by mrcnn.molding.resize_image
    (its scale, padding or crop), nearest neighbour as the instance masks
    (mrcnn.masks.resize_mask); the padding is void."""
    return decode(resize_mask(encode(labels)[:, :, None], scale, padding, crop)[:, :, 0])


def check_semantic_augmentation(config, augmentation):
    """Raise a TypeError when the config has both the semantic head and
    keypoints and an augmentation is given: the pipeline moves either the
    keypoints or the semantic map with the masks, not both."""
    if (has_semantic(config) and getattr(config, "KEYPOINT_NAMES", ())
            and augmentation is not None):
        raise TypeError("config has KEYPOINT_NAMES and NUM_STUFF_CLASSES: augmentation "
                        "cannot move keypoints and a semantic map together; train without "
                        "augmentation or without one of them")


def augment_with_semantic(augmentation, image, mask, labels, name="image"):
    """mrcnn.data.augment.augment_image_and_masks with the semantic labels
    [H, W] carried as one more mask (`encode`d). Returns (image, mask,
    labels)."""
    from mrcnn.data.augment import augment_image_and_masks

    carried = {}

    def with_semantic(image, masks=(), **kwargs):
        out = augmentation(image=image, masks=list(masks) + [encode(labels)], **kwargs)
        if not isinstance(out, dict) or "masks" not in out:
            return out  # augment_image_and_masks reports it
        masks_out = list(out["masks"])
        if len(masks_out) != len(masks) + 1:
            raise ValueError("{}: the augmentation returned {} masks for {} instances and the "
                             "semantic map".format(name, len(masks_out), len(masks)))
        carried["semantic"] = np.asarray(masks_out.pop())
        return dict(out, masks=masks_out)

    image, mask = augment_image_and_masks(with_semantic, image, mask, name=name)
    semantic = carried["semantic"]
    if semantic.shape[:2] != image.shape[:2]:
        raise ValueError("{}: the augmentation returned a semantic map of {} for an image of "
                         "{}".format(name, semantic.shape[:2], image.shape[:2]))
    return image, mask, decode(semantic.reshape(image.shape[:2]))
