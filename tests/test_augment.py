"""Augmentation in the training pipeline: albumentations, RandomFlip, errors."""
import albumentations as A
import numpy as np
import pytest

from mrcnn.config import Config
from mrcnn.data.augment import RandomFlip, check_augmentation
from mrcnn.data.dataset import Dataset
from mrcnn.data.pipeline import data_generator, load_image_gt, make_tf_dataset


class AugConfig(Config):
    NAME = "aug"
    NUM_CLASSES = 3
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    RPN_TRAIN_ANCHORS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 3
    USE_MINI_MASK = False


class TwoBoxes(Dataset):
    """128x128 images: a box of class 1 on the left, one of class 2 on the
    right; a gradient image so that flips are visible. Sources "a" and "b"
    fill the image with different offsets."""

    def __init__(self, sources=("a",)):
        super().__init__()
        for source in sources:
            self.add_class(source, 1, "left")
            self.add_class(source, 2, "right")
        for i, source in enumerate(sources):
            self.add_image(source, image_id=i, path=None, offset=50 * i)
        self.prepare()

    def load_image(self, image_id):
        x = np.arange(128, dtype=np.uint8)
        image = np.broadcast_to(x[None, :, None], (128, 128, 3)).copy()
        return image + np.uint8(self.image_info[image_id]["offset"])

    def load_mask(self, image_id):
        masks = np.zeros((128, 128, 2), bool)
        masks[10:40, 5:30, 0] = True
        masks[60:100, 90:120, 1] = True
        source = self.image_info[image_id]["source"]
        return masks, np.array([self.map_source_class_id("{}.{}".format(source, c))
                                for c in (1, 2)], np.int32)


def test_albumentations_flip_matches_a_hand_made_flip():
    config, d = AugConfig(), TwoBoxes()
    image, meta, class_ids, boxes, masks = load_image_gt(d, config, 0)
    flip = A.Compose([A.HorizontalFlip(p=1)])
    f_image, f_meta, f_class_ids, f_boxes, f_masks = load_image_gt(d, config, 0,
                                                                   augmentation=flip)
    np.testing.assert_array_equal(f_image, image[:, ::-1])
    np.testing.assert_array_equal(f_masks, masks[:, ::-1])
    np.testing.assert_array_equal(f_class_ids, class_ids)
    # Boxes (y2, x2 exclusive): x1' = W - x2, x2' = W - x1.
    np.testing.assert_array_equal(boxes, [[10, 5, 40, 30], [60, 90, 100, 120]])
    np.testing.assert_array_equal(f_boxes, [[10, 98, 40, 123], [60, 8, 100, 38]])
    np.testing.assert_array_equal(f_meta, meta)
    # The dependency-free flip does the same.
    r_image, _, _, r_boxes, r_masks = load_image_gt(d, config, 0, augmentation=RandomFlip(1.0))
    np.testing.assert_array_equal(r_image, f_image)
    np.testing.assert_array_equal(r_boxes, f_boxes)
    np.testing.assert_array_equal(r_masks, f_masks)
    v_image, _, _, v_boxes, _ = load_image_gt(
        d, config, 0, augmentation=RandomFlip(horizontal=0, vertical=1))
    np.testing.assert_array_equal(v_image, image[::-1])
    np.testing.assert_array_equal(v_boxes, [[88, 5, 118, 30], [28, 90, 68, 120]])


def test_crop_that_removes_an_instance_drops_it():
    config, d = AugConfig(), TwoBoxes()
    # Keep the right half, scaled back to 128x128: the left box leaves.
    right_half = A.Compose([A.Crop(x_min=64, y_min=0, x_max=128, y_max=128),
                            A.Resize(128, 128, interpolation=0, mask_interpolation=0)])
    _, _, class_ids, boxes, masks = load_image_gt(d, config, 0, augmentation=right_half)
    np.testing.assert_array_equal(class_ids, [2])
    np.testing.assert_array_equal(boxes, [[60, 52, 100, 112]])
    assert masks.shape == (128, 128, 1)
    # With mini-masks the dropped instance is gone too.
    _, _, class_ids, _, mini = load_image_gt(d, config, 0, augmentation=right_half,
                                             use_mini_mask=True)
    assert mini.shape == (56, 56, 1) and list(class_ids) == [2]


def test_size_changing_augmentation_is_a_clear_error():
    config, d = AugConfig(), TwoBoxes()
    with pytest.raises(ValueError, match="image 0.*changed the image from .*128, 128, 3.* to "
                                         ".*32, 32, 3.*RandomSizedCrop"):
        load_image_gt(d, config, 0, augmentation=A.Compose([A.RandomCrop(32, 32)]))


def test_imgaug_objects_and_junk_are_refused():
    fake = type("Fliplr", (), {"__module__": "imgaug.augmenters.flip",
                               "__call__": lambda self, **kw: kw})()
    with pytest.raises(TypeError, match="imgaug is unmaintained.*A.HorizontalFlip"):
        check_augmentation(fake)
    with pytest.raises(TypeError, match="imgaug"):
        make_tf_dataset(TwoBoxes(), AugConfig(), augmentation=fake)
    with pytest.raises(TypeError, match="got int"):
        load_image_gt(TwoBoxes(), AugConfig(), 0, augmentation=3)
    with pytest.raises(ValueError, match="horizontal"):
        RandomFlip(1.5)


def test_no_augmentation_sources_are_left_alone():
    config = AugConfig()
    d = TwoBoxes(sources=("a", "b"))  # image 0 from "a" (offset 0), image 1 from "b" (50)
    with pytest.raises(ValueError, match="5 classes.*NUM_CLASSES is 3"):
        make_tf_dataset(d, config)
    config = type("Aug5", (AugConfig,), {"NUM_CLASSES": 5})()
    seen = []

    def spy(image, masks):
        seen.append(int(image[64, 0, 0]))
        return {"image": image, "masks": masks}

    batches = list(make_tf_dataset(d, config, shuffle=False, repeat=False, augmentation=spy,
                                   no_augmentation_sources=["b"]))
    assert len(batches) == 2 and seen == [0]
    seen.clear()
    generator = data_generator(d, config, shuffle=False, augmentation=spy,
                               no_augmentation_sources=["a"])
    for _ in range(4):
        next(generator)
    assert seen == [50, 50]
    seen.clear()
    next(make_tf_dataset(d, config, shuffle=False, augmentation=A.Compose([A.NoOp()])).
         as_numpy_iterator())


def test_tf_dataset_with_albumentations_flip():
    config = AugConfig()
    d = TwoBoxes()
    plain = next(make_tf_dataset(d, config, shuffle=False).as_numpy_iterator())
    flipped = next(make_tf_dataset(d, config, shuffle=False,
                                   augmentation=A.HorizontalFlip(p=1)).as_numpy_iterator())
    np.testing.assert_allclose(flipped[0], plain[0][:, :, ::-1])
    np.testing.assert_array_equal(flipped[6], plain[6][:, :, ::-1])
    np.testing.assert_array_equal(flipped[5][0, :2], [[10, 98, 40, 123], [60, 8, 100, 38]])
