"""The semantic map in the training pipeline (mrcnn.data.semantic through
mrcnn.data.sample): labels in the head's order with void = -1, moved with
the image through resize, padding, flips and albumentations, and the
arrays of a training sample."""

import numpy as np
import pytest

from mrcnn.config import Config
from mrcnn.data import semantic as sem
from mrcnn.data.augment import RandomFlip
from mrcnn.data.dataset import Dataset
from mrcnn.data.panoptic import load_panoptic_shapes
from mrcnn.molding import meta_window
from mrcnn.data.sample import build_training_sample, load_image_gt, sample_specs, \
    training_anchors

COLOURS = np.array([[0, 0, 0], [250, 0, 0], [0, 250, 0], [0, 0, 250], [250, 250, 0]], np.uint8)


class BlocksConfig(Config):
    NAME = "blocks"
    NUM_CLASSES = 1 + 1 + 3          # one thing (1), stuff 2..4
    NUM_STUFF_CLASSES = 3
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    BACKBONE = "resnet18"
    MAX_GT_INSTANCES = 4
    USE_MINI_MASK = False


class BlocksDataset(Dataset):
    """100x60 images: three stuff blocks (class ids 2, 3, 4) and a thing
    (class 1) in a square, each painted in its colour of COLOURS; a strip
    of void (-1) pixels at the bottom. Accepts load_semantic's void=."""

    def __init__(self):
        super().__init__()
        self.add_class("blocks", 1, "box")
        for i, name in enumerate(("sky", "grass", "sea"), start=2):
            self.add_class("blocks", i, name)
        self.add_image("blocks", image_id=0, path=None)
        self.prepare()
        classes = np.zeros((100, 60), np.int64)
        classes[:40] = 2
        classes[40:70, :35] = 3
        classes[40:70, 35:] = 4
        classes[70:] = 2
        classes[10:30, 10:30] = 1
        self.classes = classes
        self.void = np.zeros((100, 60), bool)
        self.void[92:] = True

    def load_image(self, image_id):
        return COLOURS[self.classes]

    def load_mask(self, image_id):
        return (self.classes == 1)[:, :, None], np.array([1], np.int32)

    def load_semantic(self, image_id, void=0):
        out = np.where(self.classes == 1, 0, self.classes)
        out[self.void] = void
        return out.astype(np.int32)


def colour_labels(image):
    """The head's label of each pixel from its colour (nearest of COLOURS):
    class 1 (the thing) and black give 0, class c >= 2 gives c - 1."""
    d = ((image[:, :, None, :].astype(np.int64) - COLOURS[None, None]) ** 2).sum(-1)
    cls = d.argmin(-1)
    return np.where(cls >= 2, cls - 1, 0)


def test_labels_are_in_the_heads_order_with_void():
    config = BlocksConfig()
    dataset = BlocksDataset()
    labels = sem.load_semantic_labels(dataset, config, 0, (100, 60, 3), "image 0")
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(np.unique(labels), [-1, 0, 1, 2, 3])
    assert (labels[92:] == -1).all() and (labels[10:30, 10:30] == 0).all()
    assert (labels[:10] == 1).all() and (labels[50, :35] == 2).all()
    assert (labels[50, 35:] == 3).all()

    class Reordered(BlocksConfig):
        STUFF_CLASS_IDS = (4, 2, 3)
    labels = sem.load_semantic_labels(dataset, Reordered(), 0, (100, 60, 3), "image 0")
    assert (labels[:10] == 2).all() and (labels[50, 35:] == 1).all()


def test_bad_semantic_maps_are_named_errors():
    config = BlocksConfig()

    class NoSemantic(BlocksDataset):
        load_semantic = None
    with pytest.raises(ValueError, match="image 0.*no load_semantic"):
        sem.load_semantic_labels(NoSemantic(), config, 0, (100, 60, 3), "image 0")
    for bad, match in [(np.zeros((60, 100), np.int32), "shape"),
                       (np.zeros((100, 60)), "integer"),
                       (np.full((100, 60), 9), "class id 9")]:
        dataset = BlocksDataset()
        dataset.load_semantic = lambda image_id, bad=bad: bad
        with pytest.raises(ValueError, match="image 0: .*" + match):
            sem.load_semantic_labels(dataset, config, 0, (100, 60, 3), "image 0")


def _check_follows(image, labels, window):
    """The labels agree with the colours of the image inside the window
    (but on the few blurred pixels at the edges of the blocks) and are void
    outside."""
    y1, x1, y2, x2 = window
    inside = np.zeros(labels.shape, bool)
    inside[y1:y2, x1:x2] = True
    assert (labels[~inside] == -1).all()
    valid = inside & (labels >= 0)
    agree = colour_labels(image)[valid] == labels[valid]
    assert agree.mean() > 0.97, agree.mean()
    return valid


def test_the_map_follows_the_image_through_resize_and_padding():
    config = BlocksConfig()
    image, meta, class_ids, boxes, masks, labels = load_image_gt(
        BlocksDataset(), config, 0, return_semantic=True)
    assert image.shape == (128, 128, 3) and labels.shape == (128, 128)
    window = meta_window(meta).astype(int)
    assert tuple(window) == (0, 25, 128, 102)      # 100x60 -> 128x77, padded left and right
    valid = _check_follows(image, labels, window)
    # The void strip (rows 92.. of 100) is void after resizing too.
    assert (labels[int(np.ceil(92 * 1.28)) + 1:, 30:100] == -1).all()
    assert valid.sum() > 8000


def test_the_map_follows_flips_and_albumentations():
    import albumentations as A

    config = BlocksConfig()
    dataset = BlocksDataset()
    base = load_image_gt(dataset, config, 0, return_semantic=True)
    for flip in (RandomFlip(1.0), A.Compose([A.HorizontalFlip(p=1)])):
        image, _, _, _, masks, labels = load_image_gt(dataset, config, 0, augmentation=flip,
                                                      return_semantic=True)
        np.testing.assert_array_equal(image, np.fliplr(base[0]))
        np.testing.assert_array_equal(labels, np.fliplr(base[-1]))
        np.testing.assert_array_equal(masks, np.fliplr(base[4]))
    # A shift brings in pixels from outside: they are void.
    shift = A.Compose([A.Affine(translate_px={"x": 0, "y": 20}, p=1, fill=0, fill_mask=0)])
    image, _, _, _, masks, labels = load_image_gt(dataset, config, 0, augmentation=shift,
                                                  return_semantic=True)
    assert (labels[:20] == -1).all()
    np.testing.assert_array_equal(labels[20:], base[-1][:-20])
    # The deprecated augment=True flip moves the map too.
    np.random.seed(1)
    flipped = [load_image_gt(dataset, config, 0, augment=True, return_semantic=True)
               for _ in range(6)]
    for out in flipped:
        assert (np.array_equal(out[-1], base[-1]) and np.array_equal(out[0], base[0])) or (
            np.array_equal(out[-1], np.fliplr(base[-1]))
            and np.array_equal(out[0], np.fliplr(base[0])))


def test_training_sample_carries_the_labels_last():
    config = BlocksConfig()
    anchors = training_anchors(config)
    sample = build_training_sample(BlocksDataset(), config, 0, anchors)
    specs = sample_specs(config, anchors.shape[0])
    assert len(sample) == len(specs) == 8
    for array, (shape, dtype) in zip(sample, specs):
        assert array.shape == shape and array.dtype == dtype
    labels = sample[-1]
    assert labels.shape == (128, 128) and set(np.unique(labels)) == {-1, 0, 1, 2, 3}


def test_panoptic_shapes_train_labels_match_load_semantic():
    class ShapesPanoptic(BlocksConfig):
        NUM_CLASSES = 1 + 3 + 3
        IMAGE_MIN_DIM = 128
    dataset = load_panoptic_shapes(2, 128, 128, seed=4)
    config = ShapesPanoptic()
    labels = load_image_gt(dataset, config, 1, return_semantic=True)[-1]
    semantic = dataset.load_semantic(1)
    np.testing.assert_array_equal(labels, np.where(semantic > 0, semantic - 3, 0))


def test_keypoints_and_semantic_refuse_augmentation_together():
    from mrcnn.data.pipeline import check_keypoint_augmentation

    class Both(BlocksConfig):
        KEYPOINT_NAMES = ("a", "b")
    with pytest.raises(TypeError, match="keypoints and a semantic map"):
        check_keypoint_augmentation(Both(), RandomFlip(0.5))
    check_keypoint_augmentation(Both(), None)
