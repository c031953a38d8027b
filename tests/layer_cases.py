"""Helpers shared by the layer tests (tests/test_layers_*.py): a small
config, NumPy references and input builders. tests/ has no __init__.py, so
pytest's default "prepend" import mode puts tests/ on sys.path and the test
modules import this one as `layer_cases`."""

import math

import numpy as np

from mrcnn.config import Config

MINI = 16           # LayerConfig.MINI_MASK_SHAPE


class LayerConfig(Config):
    NAME = "layers"
    NUM_CLASSES = 4
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    IMAGES_PER_GPU = 2
    PRE_NMS_LIMIT = 100
    RPN_BBOX_STD_DEV = np.array([0.2, 0.1, 0.3, 0.25])
    BBOX_STD_DEV = np.array([0.1, 0.2, 0.25, 0.3])
    TRAIN_ROIS_PER_IMAGE = 10
    ROI_POSITIVE_RATIO = 0.5
    MASK_POOL_SIZE = 4
    MASK_SHAPE = [8, 8]
    MINI_MASK_SHAPE = (16, 16)
    MAX_GT_INSTANCES = 5
    DETECTION_MAX_INSTANCES = 12
    DETECTION_MIN_CONFIDENCE = 0.5
    DETECTION_NMS_THRESHOLD = 0.3


def make_config(**overrides):
    cls = type("TestConfig", (LayerConfig,), dict(overrides))
    return cls()


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def random_boxes(rng, n, centres=None, spread=0.08, min_size=0.05, max_size=0.3):
    """Normalised boxes, optionally clustered around `centres` so that NMS has
    work to do."""
    if centres is None:
        cy, cx = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    else:
        pick = rng.integers(0, len(centres), n)
        cy = centres[pick, 0] + rng.normal(0, spread, n)
        cx = centres[pick, 1] + rng.normal(0, spread, n)
    h = rng.uniform(min_size, max_size, n)
    w = rng.uniform(min_size, max_size, n)
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 1).astype(np.float32)


def np_crop_and_resize(image, box, crop_size):
    """Bilinear crop_and_resize of one box, written out from TF's documented
    sampling rule: row i samples y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) /
    (ch - 1); samples outside the image are 0. image [H, W, C] -> [ch, cw, C]."""
    image = np.asarray(image, np.float64)
    height, width = image.shape[:2]
    ch, cw = crop_size
    y1, x1, y2, x2 = [float(v) for v in box]
    out = np.zeros((ch, cw, image.shape[2]))

    def coords(a, b, size, n):
        if n > 1:
            return [a * (size - 1) + i * (b - a) * (size - 1) / (n - 1) for i in range(n)]
        return [0.5 * (a + b) * (size - 1)]

    for i, yy in enumerate(coords(y1, y2, height, ch)):
        if yy < 0 or yy > height - 1:
            continue
        top, bottom = math.floor(yy), math.ceil(yy)
        ly = yy - top
        for j, xx in enumerate(coords(x1, x2, width, cw)):
            if xx < 0 or xx > width - 1:
                continue
            left, right = math.floor(xx), math.ceil(xx)
            lx = xx - left
            t = image[top, left] * (1 - lx) + image[top, right] * lx
            b = image[bottom, left] * (1 - lx) + image[bottom, right] * lx
            out[i, j] = t + (b - t) * ly
    return out


def image_meta(num_classes, image_shape, window, batch=1):
    """[batch, 12 + num_classes] image metas (compose_image_meta's layout)."""
    meta = np.zeros((batch, 12 + num_classes), np.float32)
    for b in range(batch):
        shape = image_shape[b] if np.ndim(image_shape[0]) else image_shape
        win = window[b] if np.ndim(window[0]) else window
        meta[b, 1:4] = [shape[0], shape[1], 3]
        meta[b, 4:7] = [shape[0], shape[1], 3]
        meta[b, 7:11] = win
        meta[b, 11] = 1.0
        meta[b, 12:] = 1
    return meta
