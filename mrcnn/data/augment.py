"""Training-time augmentation of an image and its instance masks.

The pipeline's `augmentation` argument is anything called as
``augmentation(image=image, masks=[mask, ...])`` that returns a dict with
the new "image" and "masks": an `albumentations.Compose` (or a single
albumentations transform) works as is, and so does a plain function.
Boxes are not augmented: the pipeline derives them from the augmented
masks afterwards (as matterport did), so every geometric transform keeps
boxes and masks consistent, and an instance whose mask leaves the image is
dropped.

The augmentation runs after the image is resized and padded to the network
size (as in matterport), and must keep that size: use size-preserving
transforms (flips, Affine, rotations, colour changes, RandomSizedCrop with
``size`` = the network input size, ...). See docs/augmentation.md.

Why no in-graph (tf.image) flip: the RPN targets are computed in NumPy
from the boxes against a fixed anchor grid, and the anchor grid is not
mirror-symmetric (anchor centres sit at k * stride, so a flip shifts them
by one stride), so flipping images, masks and boxes in the graph would
also need the RPN targets recomputed. The flip runs in the NumPy map of
the tf.data pipeline instead (`RandomFlip`, or albumentations' flips);
it costs a few milliseconds per 1024x1024 image.
"""

import numpy as np

IMGAUG_MESSAGE = (
    "imgaug augmenters are not supported (imgaug is unmaintained and does not work with "
    "NumPy 2); use albumentations instead, e.g. "
    "iaa.Fliplr(0.5) -> A.HorizontalFlip(p=0.5), iaa.Flipud(0.5) -> A.VerticalFlip(p=0.5), "
    "iaa.Affine(rotate=(-10, 10)) -> A.Affine(rotate=(-10, 10), p=1), "
    "iaa.Multiply((0.8, 1.2)) -> A.MultiplicativeNoise(multiplier=(0.8, 1.2), p=1), "
    "iaa.GaussianBlur(sigma=(0, 1)) -> A.GaussianBlur(sigma_limit=(0.1, 1), p=0.5); "
    "iaa.Sequential([...]) -> A.Compose([...]), iaa.Sometimes(p, x) -> x with p=p. "
    "See docs/augmentation.md.")


class RandomFlip(object):
    """Flip an image and its masks left-right and/or up-down at random
    (NumPy, no dependency). Uses np.random, like matterport's `augment`.

    horizontal: probability of a left-right flip.
    vertical: probability of an up-down flip.

    Called as ``RandomFlip(0.5)(image=[H, W, C], masks=[[H, W], ...])``;
    returns ``{"image": ..., "masks": [...]}`` with contiguous arrays. With
    ``keypoints=`` ([M, 2] x, y in continuous pixel coordinates, see
    mrcnn.data.keypoints) the result also has the flipped "keypoints".
    """

    def __init__(self, horizontal=0.5, vertical=0.0):
        for name, p in (("horizontal", horizontal), ("vertical", vertical)):
            if not 0 <= p <= 1:
                raise ValueError("RandomFlip: {} probability must be in [0, 1], got {!r}".format(
                    name, p))
        self.horizontal = float(horizontal)
        self.vertical = float(vertical)

    def __call__(self, image, masks=(), keypoints=None, **unused):
        axes = []
        if self.horizontal and np.random.random() < self.horizontal:
            axes.append(1)
        if self.vertical and np.random.random() < self.vertical:
            axes.append(0)
        out = {"image": image, "masks": list(masks)}
        if axes:
            out = {"image": np.ascontiguousarray(np.flip(image, axis=axes)),
                   "masks": [np.ascontiguousarray(np.flip(m, axis=axes)) for m in masks]}
        if keypoints is not None:
            points = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, 2)
            h, w = np.shape(image)[:2]
            if 1 in axes:
                points[:, 0] = w - points[:, 0]
            if 0 in axes:
                points[:, 1] = h - points[:, 1]
            out["keypoints"] = points
        return out

    def __repr__(self):
        return "RandomFlip(horizontal={}, vertical={})".format(self.horizontal, self.vertical)


def _is_imgaug(obj):
    return any(getattr(cls, "__module__", "").split(".")[0] == "imgaug"
               for cls in type(obj).__mro__)


def check_augmentation(augmentation):
    """Validate the pipeline's `augmentation` argument; returns it.

    None, albumentations transforms and Compose objects, and callables
    taking ``image=`` and ``masks=`` pass. imgaug augmenters raise a
    TypeError that shows the albumentations equivalents; other objects
    raise a TypeError naming their type.
    """
    if augmentation is None:
        return None
    if _is_imgaug(augmentation):
        raise TypeError(IMGAUG_MESSAGE)
    if not callable(augmentation):
        raise TypeError("augmentation must be an albumentations Compose/transform or a "
                        "callable(image=..., masks=[...]) -> dict, got {}".format(
                            type(augmentation).__name__))
    return augmentation


def augment_image_and_masks(augmentation, image, mask, name="image", keypoints=None):
    """Apply `augmentation` to an image and its masks.

    image: [H, W, C] uint8.
    mask: bool [H, W, N].
    name: names the image in errors.
    keypoints: optional [M, 2] points passed as ``keypoints=`` (see
        mrcnn.data.keypoints.augment_with_keypoints, which handles
        their conventions).

    Returns (image [H, W, C], mask bool [H, W, N]); N is unchanged (masks
    that became empty are the caller's to drop). With keypoints, returns
    (image, mask, the augmentation's "keypoints"). Raises ValueError naming
    the image when the augmentation changes the size, the channel count or
    the number of masks, or returns no keypoints.
    """
    masks = [np.ascontiguousarray(mask[:, :, i], dtype=np.uint8) for i in range(mask.shape[-1])]
    if keypoints is None:
        out = augmentation(image=image, masks=masks)
    else:
        out = augmentation(image=image, masks=masks, keypoints=keypoints)
        if isinstance(out, dict) and "keypoints" not in out:
            raise ValueError("{}: the augmentation returned no 'keypoints' (config."
                             "KEYPOINT_NAMES is set: it must move them with the "
                             "masks)".format(name))
    if not isinstance(out, dict) or "image" not in out:
        raise ValueError("{}: the augmentation returned {} instead of a dict with 'image' and "
                         "'masks'".format(name, type(out).__name__))
    new_image = np.asarray(out["image"])
    new_masks = out.get("masks", masks)
    if new_image.shape != image.shape:
        raise ValueError(
            "{}: the augmentation changed the image from {} to {}. Augmentation runs on the "
            "image already resized to the network input and must keep its size and channels: "
            "use size-preserving transforms (e.g. A.RandomSizedCrop(..., size=({}, {})) "
            "instead of A.RandomCrop)".format(name, image.shape, new_image.shape,
                                              image.shape[0], image.shape[1]))
    if len(new_masks) != len(masks):
        raise ValueError("{}: the augmentation returned {} masks for {} instances".format(
            name, len(new_masks), len(masks)))
    if len(new_masks):
        new_mask = np.stack([np.asarray(m) for m in new_masks], axis=-1)
        if new_mask.shape[:2] != image.shape[:2]:
            raise ValueError("{}: the augmentation returned masks of {} for an image of "
                             "{}".format(name, new_mask.shape[:2], image.shape[:2]))
        new_mask = new_mask.astype(bool)
    else:
        new_mask = np.zeros(image.shape[:2] + (0,), dtype=bool)
    if keypoints is not None:
        return new_image.astype(image.dtype, copy=False), new_mask, out["keypoints"]
    return new_image.astype(image.dtype, copy=False), new_mask
