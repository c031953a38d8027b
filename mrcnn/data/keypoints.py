"""Keypoints on the data side (NumPy): their coordinate convention, the
transforms the training pipeline applies to them (resize, crop, flips and
augmentation, with the left/right swaps of config.KEYPOINT_FLIP_PAIRS),
the heatmap target encoding of the keypoint head and its decoding, the
unmolding of detected keypoints, and a synthetic keypoint dataset.

Convention
----------
A keypoint array is float32 ``[instances, K, 3]``: ``(x, y, v)`` per
keypoint, in the order of config.KEYPOINT_NAMES, aligned with the
instances of ``load_mask``. ``v`` is COCO's visibility: 0 not labelled,
1 labelled but not visible, 2 labelled and visible; the loss trains on
``v > 0``. ``x``, ``y`` are continuous pixel coordinates, the frame of the
masks and polygons: pixel (row r, column c) covers [c, c + 1) x [r, r + 1),
so its centre is (c + 0.5, r + 0.5). COCO files store keypoints as pixel
indices; the COCO loader adds 0.5 (as detectron2 does). A keypoint whose
``v`` is 0 has x = y = 0.

The graph (mrcnn.heads.keypoint) encodes and decodes with the same rules
as `encode_keypoints` / `decode_heatmaps` here (tests check they agree).
"""

import inspect
import math

import numpy as np

from mrcnn.boxes import denorm_boxes, norm_boxes
from mrcnn.data.shapes import ShapesConfig, ShapesDataset

############################################################
#  Names, flips, visibility
############################################################


def flip_permutation(names, flip_pairs):
    """int [K]: for each keypoint the index of the one it becomes after a
    mirroring (its flip partner, or itself)."""
    names = list(names)
    perm = np.arange(len(names))
    for a, b in flip_pairs:
        i, j = names.index(a), names.index(b)
        perm[i], perm[j] = j, i
    return perm


def flip_pairs_from_names(names):
    """The left/right pairs among keypoint names: a name with "left" (or
    "Left", "LEFT") and the same name with "right" in its place, e.g.
    ("left_eye", "right_eye"); in the order of the left names."""
    names = list(names)
    pairs = []
    for name in names:
        for left, right in (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT")):
            if left in name:
                partner = name.replace(left, right)
                if partner in names and partner != name and (name, partner) not in pairs:
                    pairs.append((name, partner))
                break
    return tuple(pairs)


def keypoint_attributes(dataset):
    """Config attributes for a dataset that names its keypoints
    (``dataset.keypoint_names``, e.g. a COCO keypoints file): {"KEYPOINT_NAMES",
    "KEYPOINT_SKELETON" (``dataset.keypoint_skeleton``), "KEYPOINT_FLIP_PAIRS"
    (flip_pairs_from_names)}; {} for a dataset without keypoint names."""
    names = getattr(dataset, "keypoint_names", None)
    if not names:
        return {}
    return {"KEYPOINT_NAMES": tuple(names),
            "KEYPOINT_SKELETON": tuple(tuple(p) for p in
                                       getattr(dataset, "keypoint_skeleton", None) or ()),
            "KEYPOINT_FLIP_PAIRS": flip_pairs_from_names(names)}


def clip_to_image(keypoints, shape):
    """Keypoints outside [0, width) x [0, height) become v = 0; every
    keypoint with v = 0 gets x = y = 0. Returns a new float32 array."""
    kp = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, *np.shape(keypoints)[1:])
    if kp.size == 0:
        return kp
    h, w = int(shape[0]), int(shape[1])
    x, y = kp[..., 0], kp[..., 1]
    inside = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
    kp[..., 2] = np.where(inside, kp[..., 2], 0)
    kp[kp[..., 2] <= 0] = 0
    return kp


def check_keypoints(keypoints, num_instances, num_keypoints, where,
                    names_from="config.KEYPOINT_NAMES"):
    """load_keypoints' output as float32 [N, K, 3], or a ValueError naming
    `where` (the image) when it does not fit the instances or the config."""
    try:
        kp = np.asarray(keypoints, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("{}: load_keypoints returned {} which is not an array of "
                         "numbers".format(where, type(keypoints).__name__)) from None
    if num_instances == 0 and kp.size == 0:
        return np.zeros((0, num_keypoints, 3), np.float32)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError("{}: load_keypoints returned shape {}; expected [instances, "
                         "keypoints, (x, y, v)]".format(where, kp.shape))
    if kp.shape[0] != num_instances:
        raise ValueError("{}: load_keypoints returned keypoints of {} instances but load_mask "
                         "{} masks".format(where, kp.shape[0], num_instances))
    if kp.shape[1] != num_keypoints:
        raise ValueError("{}: load_keypoints returned {} keypoints per instance but "
                         "{} has {}".format(where, kp.shape[1], names_from, num_keypoints))
    v = kp[..., 2]
    if not np.all(np.isin(v, (0, 1, 2))):
        raise ValueError("{}: keypoint visibilities must be 0, 1 or 2 (COCO's), got {}".format(
            where, sorted(set(np.unique(v).tolist()) - {0, 1, 2})[:5]))
    labelled = v > 0
    if not np.all(np.isfinite(kp[..., :2][labelled])):
        raise ValueError("{}: labelled keypoints (v > 0) have non-finite coordinates".format(
            where))
    return kp


def reorder_keypoints(keypoints, dataset_names, config_names, where):
    """Keypoints of a dataset that declares its keypoint names
    (``dataset.keypoint_names``) in the order of config.KEYPOINT_NAMES.
    Names of the dataset the config does not use are dropped; a name of
    the config the dataset lacks raises a ValueError."""
    dataset_names = list(dataset_names)
    missing = [n for n in config_names if n not in dataset_names]
    if missing:
        raise ValueError("{}: config.KEYPOINT_NAMES has {} which the dataset's keypoints ({}) "
                         "do not".format(where, ", ".join(map(repr, missing)),
                                         ", ".join(dataset_names)))
    if list(config_names) == dataset_names:
        return keypoints
    order = [dataset_names.index(n) for n in config_names]
    return np.asarray(keypoints)[:, order]


############################################################
#  Geometric transforms of the training pipeline
############################################################

def resize_keypoints(keypoints, original_shape, scale, padding, crop=None):
    """Move keypoints of an image of `original_shape` like
    utils.resize_image moved its pixels (its scale, padding and crop).
    Keypoints that leave the image are not clipped here (see clip_to_image)."""
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    if kp.size == 0:
        return kp
    h, w = int(original_shape[0]), int(original_shape[1])
    # resize_image resizes to round(size * scale) pixels: the exact factors.
    sy = max(round(h * scale), 1) / h
    sx = max(round(w * scale), 1) / w
    if crop is not None:
        dy, dx = -crop[0], -crop[1]
    else:
        dy, dx = padding[0][0], padding[1][0]
    kp[..., 0] = kp[..., 0] * sx + dx
    kp[..., 1] = kp[..., 1] * sy + dy
    return kp


def flip_keypoints(keypoints, width, permutation=None):
    """Keypoints after a left-right flip of an image `width` pixels wide
    (x -> width - x), with the flip pairs swapped (`permutation`, see
    flip_permutation)."""
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    if kp.size == 0:
        return kp
    kp[..., 0] = width - kp[..., 0]
    if permutation is not None:
        kp = kp[:, permutation]
    return kp


def _is_albumentations(obj):
    return any(getattr(cls, "__module__", "").split(".")[0] == "albumentations"
               for cls in type(obj).__mro__)


def _albumentations_image_only(obj):
    """True when an albumentations transform or Compose only changes pixel
    values (every transform in it is an ImageOnlyTransform)."""
    import albumentations as A
    if isinstance(obj, A.ImageOnlyTransform):
        return True
    children = getattr(obj, "transforms", None)
    if children is None:
        return False
    return all(_albumentations_image_only(t) for t in children)


def keypoint_support(augmentation):
    """How an augmentation carries keypoints: "albumentations" (a Compose
    with keypoint_params in pixel-index "xy" format), "callable" (a callable
    taking ``keypoints=``: continuous coordinates, [M, 2]), or "image_only"
    (albumentations transforms that change no geometry: keypoints stay).
    Raises TypeError when it cannot carry them (it would move the masks but
    not the keypoints)."""
    if _is_albumentations(augmentation):
        processors = getattr(augmentation, "processors", None) or {}
        if "keypoints" in processors:
            params = processors["keypoints"].params
            if params.format != "xy" or params.remove_invisible:
                raise TypeError(
                    "the albumentations Compose's keypoint_params must be "
                    "A.KeypointParams(format='xy', remove_invisible=False) (got format={!r}, "
                    "remove_invisible={}): the pipeline marks keypoints that leave the image "
                    "invisible itself".format(params.format, params.remove_invisible))
            return "albumentations"
        if _albumentations_image_only(augmentation):
            return "image_only"
        raise TypeError(
            "config.KEYPOINT_NAMES is set but the albumentations augmentation {} moves pixels "
            "without keypoints: wrap it in A.Compose([...], keypoint_params=A.KeypointParams("
            "format='xy', remove_invisible=False))".format(type(augmentation).__name__))
    try:
        params = inspect.signature(augmentation).parameters.values()
    except (TypeError, ValueError):
        params = ()
    if any(p.name == "keypoints" or p.kind == p.VAR_KEYWORD for p in params):
        return "callable"
    raise TypeError("config.KEYPOINT_NAMES is set but the augmentation {} does not take "
                    "keypoints=: give it a keypoints argument (an [M, 2] array of x, y it "
                    "returns moved, as 'keypoints') or use mrcnn.data.augment.RandomFlip or "
                    "an albumentations Compose with keypoint_params".format(
                        getattr(augmentation, "__name__", type(augmentation).__name__)))


def _signed_area(points):
    (x0, y0), (x1, y1), (x2, y2) = points[:3]
    return (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)


def augment_with_keypoints(augmentation, image, mask, keypoints, permutation=None,
                           name="image"):
    """mrcnn.data.augment.augment_image_and_masks with keypoints [N, K, 3].

    The keypoints go through the augmentation with three probe points
    near the image centre. When the probes' orientation is reversed (a
    horizontal or vertical flip, a transpose: a mirroring) the flip pairs
    are swapped (`permutation`); a rotation swaps nothing. Returns (image,
    mask, keypoints); keypoints outside the image are not clipped here."""
    from mrcnn.data.augment import augment_image_and_masks

    support = keypoint_support(augmentation)
    if support == "image_only":
        image, mask = augment_image_and_masks(augmentation, image, mask, name=name)
        return image, mask, keypoints
    kp = np.asarray(keypoints, dtype=np.float32)
    h, w = image.shape[:2]
    probes = np.array([[w / 2, h / 2], [w / 2 + w / 8, h / 2], [w / 2, h / 2 + h / 8]],
                      np.float32)
    points = np.concatenate([kp[..., :2].reshape(-1, 2), probes], axis=0)
    # albumentations' keypoints are pixel indices (a flip maps x to W - 1 - x).
    offset = 0.5 if support == "albumentations" else 0.0
    image, mask, moved = augment_image_and_masks(augmentation, image, mask, name=name,
                                                 keypoints=points - offset)
    moved = np.asarray(moved, dtype=np.float32).reshape(-1, 2)[:, :2] + offset
    if moved.shape[0] != points.shape[0]:
        raise ValueError("{}: the augmentation returned {} keypoints for {} (keep them all: "
                         "remove_invisible=False)".format(name, moved.shape[0], points.shape[0]))
    out = kp.copy()
    out[..., :2] = moved[:-3].reshape(kp.shape[:-1] + (2,))
    if permutation is not None and _signed_area(moved[-3:]) * _signed_area(probes) < 0:
        out = out[:, permutation]
    return image, mask, out


############################################################
#  Heatmap targets of the keypoint head
############################################################

def roi_pixel_boxes(rois, image_shape):
    """Normalised RoIs [..., (y1, x1, y2, x2)] (utils.norm_boxes' frame) as
    continuous pixel boxes of an image of `image_shape`: (y1 (h - 1),
    x1 (w - 1), y2 (h - 1) + 1, x2 (w - 1) + 1), the box denorm_boxes
    gives, unrounded."""
    h, w = float(image_shape[0]), float(image_shape[1])
    rois = np.asarray(rois, dtype=np.float32)
    scale = np.array([h - 1, w - 1, h - 1, w - 1], np.float32)
    return rois * scale + np.array([0, 0, 1, 1], np.float32)


def encode_keypoints(boxes, keypoints, size):
    """Heatmap targets: each keypoint's cell in its box's size x size grid.

    boxes: [R, (y1, x1, y2, x2)] continuous pixels.
    keypoints: [R, K, 3] of the ground truth assigned to each box.
    Returns (index int32 [R, K]: row * size + column, valid bool [R, K]:
    v > 0 and inside the box, edges included; the others have no loss).
    """
    boxes = np.asarray(boxes, np.float32)[:, None, :]
    kp = np.asarray(keypoints, np.float32)
    y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    x, y = kp[..., 0], kp[..., 1]
    inside = (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
    bw = np.maximum(x2 - x1, 1e-6)
    bh = np.maximum(y2 - y1, 1e-6)
    col = np.clip(np.floor((x - x1) / bw * size), 0, size - 1).astype(np.int32)
    row = np.clip(np.floor((y - y1) / bh * size), 0, size - 1).astype(np.int32)
    return row * size + col, inside & (kp[..., 2] > 0)


def softmax_heatmaps(heatmaps):
    """[R, S, S, K] logits -> the softmax over each channel's S x S cells."""
    logits = np.asarray(heatmaps, np.float64)
    r, s1, s2, k = logits.shape
    flat = logits.reshape(r, s1 * s2, k)
    flat = np.exp(flat - flat.max(axis=1, keepdims=True))
    return (flat / flat.sum(axis=1, keepdims=True)).reshape(logits.shape)


def decode_heatmaps(heatmaps, boxes):
    """Keypoints of heatmap logits: each channel's arg-max cell, its centre
    mapped into the box, and its softmax probability as the score.

    heatmaps: [R, S, S, K] logits; boxes: [R, (y1, x1, y2, x2)] pixels.
    Returns float32 [R, K, (x, y, score)].
    """
    heatmaps = np.asarray(heatmaps)
    r, s, _, k = heatmaps.shape
    flat = heatmaps.reshape(r, s * s, k)
    best = flat.argmax(axis=1)                                   # [R, K]
    row, col = best // s, best % s
    boxes = np.asarray(boxes, np.float32)[:, None, :]
    x = boxes[..., 1] + (col + 0.5) * (boxes[..., 3] - boxes[..., 1]) / s
    y = boxes[..., 0] + (row + 0.5) * (boxes[..., 2] - boxes[..., 0]) / s
    probs = softmax_heatmaps(heatmaps).reshape(r, s * s, k)
    score = np.take_along_axis(probs, best[:, None, :], axis=1)[:, 0]
    return np.stack([x, y, score], axis=-1).astype(np.float32)


def keypoint_loss_reference(heatmaps, index, valid):
    """The keypoint loss in NumPy: the mean over the valid keypoints of the
    softmax cross-entropy of their heatmap (S x S cells) at their target
    cell; 0 when none is valid. heatmaps [R, S, S, K]; index, valid [R, K]."""
    logits = np.asarray(heatmaps, np.float64)
    r, s, _, k = logits.shape
    flat = np.transpose(logits.reshape(r, s * s, k), (0, 2, 1))  # [R, K, S*S]
    top = flat.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(flat - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(flat, np.asarray(index)[..., None], axis=-1)[..., 0]
    ce = log_z - picked
    valid = np.asarray(valid, bool)
    return float(ce[valid].sum() / max(valid.sum(), 1))


############################################################
#  Detected keypoints -> original image pixels
############################################################

def unmold_keypoints(detections, keypoints, original_image_shape, image_shape, window):
    """One image's detected keypoints in original image pixels, for the
    detections unmold_detections keeps (same order, same filter).

    detections: [N, (y1, x1, y2, x2, class_id, score)] normalised.
    keypoints: [N, K, (x, y, score)] in molded-image pixels (the head's
        ``mrcnn_keypoints``; zeros for classes without keypoints).
    Returns float32 [n, K, (x, y, score)], x and y clipped to the image.
    """
    detections = np.asarray(detections)
    zero_ix = np.where(detections[:, 4] == 0)[0]
    n = zero_ix[0] if zero_ix.shape[0] > 0 else detections.shape[0]
    # The box filter of molding.unmold_detections.
    wy1, wx1, wy2, wx2 = norm_boxes(window, image_shape[:2])
    shift = np.array([wy1, wx1, wy1, wx1])
    scale = np.array([wy2 - wy1, wx2 - wx1, wy2 - wy1, wx2 - wx1])
    boxes = denorm_boxes(np.divide(detections[:n, :4] - shift, scale),
                         original_image_shape[:2])
    heights = boxes[:, 2].astype(np.int64) - boxes[:, 0]
    keep = np.where(heights * (boxes[:, 3] - boxes[:, 1]) > 0)[0]
    kp = np.array(keypoints[:n], dtype=np.float32)[keep]
    if kp.size == 0:
        return kp.reshape(len(keep), np.shape(keypoints)[1], 3)
    h, w = float(original_image_shape[0]), float(original_image_shape[1])
    y1, x1, y2, x2 = (float(v) for v in window)
    present = kp[..., 2] > 0
    x = (kp[..., 0] - x1) * w / max(x2 - x1, 1e-6)
    y = (kp[..., 1] - y1) * h / max(y2 - y1, 1e-6)
    kp[..., 0] = np.where(present, np.clip(x, 0, w), 0)
    kp[..., 1] = np.where(present, np.clip(y, 0, h), 0)
    return kp


############################################################
#  Synthetic data: shapes with named keypoints
############################################################

SHAPE_KEYPOINT_NAMES = ("top", "left", "right", "center")
SHAPE_KEYPOINT_FLIP_PAIRS = (("left", "right"),)
SHAPE_KEYPOINT_SKELETON = (("top", "left"), ("top", "right"), ("left", "right"),
                           ("top", "center"))


def shape_keypoints(shape, dims):
    """The 4 keypoints of a shape (see KeypointShapesDataset) as pixel
    indices [(column, row)]: top, left, right, centre."""
    x, y, s = dims
    if shape == "triangle":
        half_base = s / math.sin(math.radians(60))
        # The points cv2.fillPoly got (int32).
        return [(x, y - s), (int(x - half_base), y + s), (int(x + half_base), y + s), (x, y)]
    if shape == "square":
        return [(x, y - s), (x - s, y + s), (x + s, y + s), (x, y)]
    if shape == "circle":
        return [(x, y - s), (x - s, y), (x + s, y), (x, y)]
    raise ValueError("unknown shape {!r}".format(shape))


class KeypointShapesConfig(ShapesConfig):
    """ShapesConfig with the shapes' keypoints."""
    NAME = "shape_keypoints"
    KEYPOINT_NAMES = SHAPE_KEYPOINT_NAMES
    KEYPOINT_FLIP_PAIRS = SHAPE_KEYPOINT_FLIP_PAIRS
    KEYPOINT_SKELETON = SHAPE_KEYPOINT_SKELETON
    KEYPOINT_OKS_SIGMAS = (0.05, 0.05, 0.05, 0.05)


class KeypointShapesDataset(ShapesDataset):
    """The shapes (mrcnn.data.shapes) with 4 named keypoints each
    (SHAPE_KEYPOINT_NAMES): "top" (a triangle's apex, the middle of a
    square's top edge, a circle's top), "left" and "right" (the bottom
    corners of triangles and squares, a circle's leftmost and rightmost
    points) and "center". A keypoint covered by a shape drawn later has
    v = 1, one outside the image v = 0 (and x = y = 0), the others v = 2.
    Seeded like ShapesDataset.load_shapes."""

    keypoint_names = SHAPE_KEYPOINT_NAMES
    keypoint_skeleton = SHAPE_KEYPOINT_SKELETON

    def load_keypoints(self, image_id):
        """float32 [instances, 4, (x, y, v)], aligned with load_mask."""
        info = self._info(image_id)
        shapes = info["shapes"]
        h, w = info["height"], info["width"]
        masks, _ = self.load_mask(image_id)
        out = np.zeros((len(shapes), len(SHAPE_KEYPOINT_NAMES), 3), np.float32)
        for i, (shape, _, dims) in enumerate(shapes):
            for k, (c, r) in enumerate(shape_keypoints(shape, dims)):
                if not (0 <= c < w and 0 <= r < h):
                    continue   # outside the image: unlabelled (v = 0)
                later = masks[r, c, i + 1:].any() if i + 1 < len(shapes) else False
                out[i, k] = (c + 0.5, r + 0.5, 1 if later else 2)
        return out


def keypoint_shapes(count, height=128, width=128, seed=0):
    """A prepared KeypointShapesDataset of `count` seeded images."""
    dataset = KeypointShapesDataset()
    dataset.load_shapes(count, height, width, seed=seed)
    dataset.prepare()
    return dataset

