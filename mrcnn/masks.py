"""Image and mask resizing in NumPy: scikit-image's `resize` with
matterport's defaults, mask resizing to follow `resize_image`, mini-masks
and pasting a head's small mask into its box (matterport's names; also
importable from `mrcnn.utils`).

Masks are ``[height, width, instances]`` arrays of bool; boxes are pixel
``(y1, x1, y2, x2)`` with ``(y2, x2)`` exclusive.
"""

import warnings

import numpy as np
import scipy.ndimage
import skimage.transform


def resize(image, output_shape, order=1, mode="constant", cval=0, clip=True,
           preserve_range=False, anti_aliasing=False, anti_aliasing_sigma=None):
    """scikit-image's resize with matterport's defaults (no anti-aliasing).

    Bool input is resized as float32 0/1 (scikit-image refuses bilinear
    interpolation of bool arrays).
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.float32)
    return skimage.transform.resize(
        image, output_shape, order=order, mode=mode, cval=cval, clip=clip,
        preserve_range=preserve_range, anti_aliasing=anti_aliasing,
        anti_aliasing_sigma=anti_aliasing_sigma)


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Resize an image keeping its aspect ratio, and pad ("square", "pad64")
    or crop ("crop") it; returns (image, window, scale, padding, crop).

    matterport's name for mrcnn.molding.resize_image, which lives beside its
    TensorFlow twin (the export's in-graph resizing); see it for the details.
    """
    from mrcnn.molding.resize import resize_image as _resize_image
    return _resize_image(image, min_dim=min_dim, max_dim=max_dim, min_scale=min_scale,
                         mode=mode)


def resize_mask(mask, scale, padding, crop=None):
    """Resize [height, width, N] masks with the scale and padding (or crop)
    that `resize_image` returned, so masks stay aligned with the image.
    Nearest-neighbour zoom; output size is round(size * scale)."""
    mask = np.asarray(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = scipy.ndimage.zoom(mask, zoom=[scale, scale, 1], order=0)
    if crop is not None:
        y, x, h, w = crop
        mask = mask[y:y + h, x:x + w]
    else:
        mask = np.pad(mask, padding, mode="constant", constant_values=0)
    return mask


def minimize_mask(bbox, mask, mini_shape):
    """Crop each mask to its box and resize it to `mini_shape` (bilinear,
    rounded). Returns bool [mini_h, mini_w, N]. Undo with `expand_mask`."""
    mask = np.asarray(mask)
    mini_shape = tuple(mini_shape)
    mini_mask = np.zeros(mini_shape + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        m = mask[y1:y2, x1:x2, i].astype(bool).astype(np.float32)
        if m.size == 0:
            raise ValueError("minimize_mask: instance {} has an empty box {}".format(
                i, list(bbox[i][:4])))
        mini_mask[:, :, i] = np.around(resize(m, mini_shape)).astype(bool)
    return mini_mask


def expand_mask(bbox, mini_mask, image_shape):
    """Resize mini-masks back into full-size masks at their boxes (the
    inverse of `minimize_mask`). Returns bool [height, width, N]."""
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        m = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1))
        mask[y1:y2, x1:x2, i] = np.around(m).astype(bool)
    return mask


def unmold_mask(mask, bbox, image_shape):
    """Paste a small float mask (e.g. the 28x28 head output) into a full-size
    bool mask: resize it to the box (bilinear) and threshold at 0.5.

    mask: [height, width] float; bbox: [y1, x1, y2, x2] in pixels;
    image_shape: (height, width[, channels]) of the full image.
    """
    y1, x1, y2, x2 = bbox
    full_mask = np.zeros(tuple(image_shape[:2]), dtype=bool)
    full_mask[y1:y2, x1:x2] = mask_to_box(mask, bbox)
    return full_mask


def mask_to_box(mask, bbox, threshold=0.5):
    """The bool mask of the box area: `mask` [h, w] float resized
    (bilinear) to the size of bbox [y1, x1, y2, x2] and thresholded."""
    y1, x1, y2, x2 = bbox
    return resize(mask, (y2 - y1, x2 - x1)) >= threshold
