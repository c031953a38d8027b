"""Keypoints on the data side: config attributes, the heatmap encoding and
its decoding, resize/flip/augmentation with the flip-pair swaps, the
synthetic keypoint shapes, the training pipeline's extra input and the
COCO loader's keypoints."""

import json

import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import COCO_KEYPOINT_NAMES, COCO_KEYPOINT_OKS_SIGMAS, Config
from mrcnn.data import keypoints as kp
from mrcnn.data.augment import RandomFlip
from mrcnn.data.keypoints import KeypointShapesConfig, keypoint_shapes
from mrcnn.data.pipeline import (build_training_sample, load_image_gt, make_tf_dataset,
                                 training_anchors)
from mrcnn.data.shapes import ShapesConfig, ShapesDataset


class SmallKeypointConfig(KeypointShapesConfig):
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    MAX_GT_INSTANCES = 5


# ----------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------

def test_config_adds_the_keypoint_head_and_coco_sigmas():
    assert ShapesConfig().ROI_HEADS == ("box", "mask")
    assert ShapesConfig().KEYPOINT_NAMES == ()
    config = SmallKeypointConfig()
    assert config.ROI_HEADS == ("box", "mask", "keypoint")
    assert config.KEYPOINT_MASK_SHAPE == 56 and config.keypoint_class_ids() == [1, 2, 3]

    class Person(Config):
        NAME = "person"
        NUM_CLASSES = 2
        KEYPOINT_NAMES = COCO_KEYPOINT_NAMES
    person = Person()
    assert person.KEYPOINT_OKS_SIGMAS == COCO_KEYPOINT_OKS_SIGMAS
    assert len(person.KEYPOINT_OKS_SIGMAS) == 17
    # The JSON round trip keeps everything (and does not add the head twice).
    again = Person.from_dict(json.loads(person.to_json()))
    assert again.ROI_HEADS == ("box", "mask", "keypoint")
    assert list(again.KEYPOINT_OKS_SIGMAS) == list(COCO_KEYPOINT_OKS_SIGMAS)
    # "keypoint_loss" is a known, optional LOSS_WEIGHTS key.
    Person.LOSS_WEIGHTS = dict(Config.LOSS_WEIGHTS, keypoint_loss=2.0)
    Person()


@pytest.mark.parametrize("attr, value, message", [
    ("KEYPOINT_NAMES", ("a", "a"), "distinct"),
    ("KEYPOINT_NAMES", ("a", 3), "strings"),
    ("KEYPOINT_FLIP_PAIRS", (("left", "nose"),), "'nose' not in KEYPOINT_NAMES"),
    ("KEYPOINT_FLIP_PAIRS", (("left", "right"), ("right", "top")), "more than one pair"),
    ("KEYPOINT_FLIP_PAIRS", (("left",),), "pairs"),
    ("KEYPOINT_SKELETON", (("top", "top"),), "itself"),
    ("KEYPOINT_OKS_SIGMAS", (0.1, 0.1), "one positive number per keypoint"),
    ("KEYPOINT_CLASS_IDS", (0,), "1..NUM_CLASSES - 1 = 3"),
    ("KEYPOINT_CLASS_IDS", (4,), "1..NUM_CLASSES - 1"),
    ("KEYPOINT_MASK_SHAPE", 28, "4 \\* KEYPOINT_POOL_SIZE = 56"),
    ("KEYPOINT_CONV_CHANNELS", 0, "integer >= 1"),
])
def test_config_names_inconsistent_keypoint_attributes(attr, value, message):
    config = SmallKeypointConfig()
    setattr(config, attr, value)
    with pytest.raises(ValueError, match=attr + ".*" + message):
        config.validate()


def test_config_keypoint_head_needs_names_and_names_need_the_head():
    config = ShapesConfig()
    config.ROI_HEADS = ("box", "mask", "keypoint")
    with pytest.raises(ValueError, match="ROI_HEADS.*KEYPOINT_NAMES is empty"):
        config.validate()
    config = ShapesConfig()
    config.KEYPOINT_NAMES = ("a", "b")   # set on an instance: no derived head
    with pytest.raises(ValueError, match="ROI_HEADS.*must include 'keypoint'"):
        config.validate()


# ----------------------------------------------------------------------
# Heatmap targets
# ----------------------------------------------------------------------

def test_encode_decode_round_trip_is_within_a_grid_cell():
    rng = np.random.default_rng(0)
    size = 56
    boxes = np.array([[10, 20, 60, 100], [0, 0, 13, 7], [5.5, 3.25, 200, 150]], np.float32)
    points = np.zeros((3, 50, 3), np.float32)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        points[i, :, 0] = rng.uniform(x1, x2, 50)
        points[i, :, 1] = rng.uniform(y1, y2, 50)
    points[..., 2] = 2
    index, valid = kp.encode_keypoints(boxes, points, size)
    assert valid.all()
    # One-hot heatmaps at the target cells decode to their cell centres.
    heatmaps = np.zeros((3, size * size, 50), np.float32)
    np.put_along_axis(heatmaps, index[:, None, :], 10.0, axis=1)
    decoded = kp.decode_heatmaps(heatmaps.reshape(3, size, size, 50), boxes)
    cell_w = (boxes[:, 3] - boxes[:, 1]) / size
    cell_h = (boxes[:, 2] - boxes[:, 0]) / size
    assert np.all(np.abs(decoded[..., 0] - points[..., 0]) <= cell_w[:, None] / 2 + 1e-4)
    assert np.all(np.abs(decoded[..., 1] - points[..., 1]) <= cell_h[:, None] / 2 + 1e-4)
    # The score is the softmax probability of the arg-max cell.
    expected = np.exp(10) / (np.exp(10) + size * size - 1)
    np.testing.assert_allclose(decoded[..., 2], expected, rtol=1e-5)


def test_encode_marks_unlabelled_and_outside_keypoints_invalid():
    boxes = np.array([[10, 10, 20, 30]], np.float32)
    points = np.array([[[15, 15, 2], [15, 15, 1], [15, 15, 0], [9.9, 15, 2], [30, 20, 2],
                        [10, 10, 2]]], np.float32)
    index, valid = kp.encode_keypoints(boxes, points, 4)
    assert valid.tolist() == [[True, True, False, False, True, True]]
    # x = 15 in [10, 30) with 4 columns of 5 px -> column 1; y = 15 in
    # [10, 20) with rows of 2.5 px -> row 2. The box's far edge -> last cell.
    assert index[0, 0] == 2 * 4 + 1 and index[0, 4] == 3 * 4 + 3 and index[0, 5] == 0


def test_roi_pixel_boxes_invert_norm_boxes():
    shape = (64, 96)
    pixel = np.array([[3, 5, 40, 90], [0, 0, 64, 96]])
    np.testing.assert_allclose(kp.roi_pixel_boxes(utils.norm_boxes(pixel, shape), shape),
                               pixel, atol=1e-4)


# ----------------------------------------------------------------------
# Transforms and flips
# ----------------------------------------------------------------------

def test_flip_swaps_the_flip_pairs():
    names = ("top", "left", "right", "center")
    perm = kp.flip_permutation(names, (("left", "right"),))
    assert perm.tolist() == [0, 2, 1, 3]
    points = np.array([[[10, 1, 2], [2, 5, 2], [18, 5, 1], [10, 4, 2]]], np.float32)
    flipped = kp.flip_keypoints(points, 20, perm)
    # x -> 20 - x, then left and right trade places: the new "left" is the
    # mirror of the old "right" and is on the left again.
    assert flipped[0].tolist() == [[10, 1, 2], [2, 5, 1], [18, 5, 2], [10, 4, 2]]
    np.testing.assert_array_equal(kp.flip_keypoints(flipped, 20, perm), points)


def test_resize_keypoints_follows_resize_image():
    image = np.zeros((30, 50, 3), np.uint8)
    image[10, 20] = 255   # pixel (row 10, column 20): centre (20.5, 10.5)
    points = np.array([[[20.5, 10.5, 2]]], np.float32)
    for mode, kwargs in [("square", dict(min_dim=64, max_dim=128)),
                         ("pad64", dict(min_dim=64)), ("none", {})]:
        resized, window, scale, padding, crop = utils.resize_image(image, mode=mode, **kwargs)
        moved = kp.resize_keypoints(points, image.shape, scale, padding, crop)
        # The centre of the resized pixel's block.
        ys, xs = np.nonzero(resized[..., 0] > 100)
        assert abs(moved[0, 0, 0] - (xs.min() + xs.max() + 1) / 2) < 0.6, mode
        assert abs(moved[0, 0, 1] - (ys.min() + ys.max() + 1) / 2) < 0.6, mode
    moved = kp.resize_keypoints(points, image.shape, 2.0, None, crop=(4, 6, 64, 64))
    assert moved[0, 0, :2].tolist() == [20.5 * 2 - 6, 10.5 * 2 - 4]


def test_clip_to_image_hides_keypoints_outside():
    points = np.array([[[-0.1, 5, 2], [5, 5, 2], [10, 5, 1], [3, 9.99, 1], [4, 4, 0]]],
                      np.float32)
    out = kp.clip_to_image(points, (10, 10))
    assert out[0, :, 2].tolist() == [0, 2, 0, 1, 0]
    assert out[0, 0].tolist() == [0, 0, 0] and out[0, 4].tolist() == [0, 0, 0]


def _one_instance(width=40, height=30):
    image = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width, 1), bool)
    mask[5:20, 4:12] = True
    points = np.array([[[6.5, 6.5, 2], [4.5, 19.5, 2], [11.5, 19.5, 2], [8, 12, 2]]],
                      np.float32)
    return image, mask, points


def test_random_flip_moves_and_swaps_keypoints():
    image, mask, points = _one_instance()
    perm = kp.flip_permutation(kp.SHAPE_KEYPOINT_NAMES, kp.SHAPE_KEYPOINT_FLIP_PAIRS)
    _, new_mask, out = kp.augment_with_keypoints(RandomFlip(horizontal=1.0), image, mask,
                                                 points, perm)
    np.testing.assert_array_equal(out, kp.flip_keypoints(points, 40, perm))
    assert new_mask[5:20, 28:36].all()
    # Horizontal + vertical = a 180 degree rotation: no mirroring, no swap.
    _, _, out = kp.augment_with_keypoints(RandomFlip(1.0, 1.0), image, mask, points, perm)
    assert np.allclose(out[0, 1, :2], [40 - 4.5, 30 - 19.5])
    # Vertical only mirrors: swapped.
    _, _, out = kp.augment_with_keypoints(RandomFlip(0.0, 1.0), image, mask, points, perm)
    assert np.allclose(out[0, 1, :2], [11.5, 30 - 19.5])


def test_albumentations_flip_and_rotation_carry_keypoints():
    A = pytest.importorskip("albumentations")
    image, mask, points = _one_instance()
    perm = kp.flip_permutation(kp.SHAPE_KEYPOINT_NAMES, kp.SHAPE_KEYPOINT_FLIP_PAIRS)
    params = A.KeypointParams(format="xy", remove_invisible=False)
    flip = A.Compose([A.HorizontalFlip(p=1)], keypoint_params=params)
    _, _, out = kp.augment_with_keypoints(flip, image, mask, points, perm)
    # Same as our own flip: albumentations' pixel-index frame is converted.
    np.testing.assert_allclose(out, kp.flip_keypoints(points, 40, perm), atol=1e-4)
    rotate = A.Compose([A.Affine(rotate=(90, 90), p=1)], keypoint_params=params)
    _, new_mask, out = kp.augment_with_keypoints(rotate, image, mask, points, perm)
    # A rotation swaps nothing; "left" is still the mirror-free image of left.
    assert not np.allclose(out[0, 1, :2], points[0, 1, :2])
    # The keypoint lands in the rotated mask.
    x, y = out[0, 3, :2]
    assert new_mask[int(y), int(x), 0]
    # Colour-only pipelines need no keypoint_params.
    colour = A.Compose([A.RandomBrightnessContrast(p=1)])
    _, _, out = kp.augment_with_keypoints(colour, image, mask, points, perm)
    np.testing.assert_array_equal(out, points)


def test_augmentations_that_cannot_move_keypoints_are_refused():
    A = pytest.importorskip("albumentations")
    with pytest.raises(TypeError, match="keypoint_params"):
        kp.keypoint_support(A.Compose([A.HorizontalFlip(p=1)]))
    with pytest.raises(TypeError, match="remove_invisible=False"):
        kp.keypoint_support(A.Compose([A.HorizontalFlip(p=1)],
                                      keypoint_params=A.KeypointParams(format="xy")))

    def invert(image, masks):
        return {"image": 255 - image, "masks": masks}
    with pytest.raises(TypeError, match="invert does not take keypoints"):
        kp.keypoint_support(invert)

    def forgets(image, masks, keypoints):
        return {"image": image, "masks": masks}
    image, mask, points = _one_instance()
    with pytest.raises(ValueError, match="image 7.*no 'keypoints'"):
        kp.augment_with_keypoints(forgets, image, mask, points, name="image 7")
    # The pipeline checks once, before loading anything.
    dataset = keypoint_shapes(2, 80, 80)
    with pytest.raises(TypeError, match="invert"):
        make_tf_dataset(dataset, SmallKeypointConfig(), augmentation=invert)


# ----------------------------------------------------------------------
# The synthetic dataset and the pipeline
# ----------------------------------------------------------------------

def test_keypoint_shapes_are_seeded_and_on_their_shapes():
    a, b = keypoint_shapes(6, 96, 96, seed=3), keypoint_shapes(6, 96, 96, seed=3)
    for i in a.image_ids:
        pa, pb = a.load_keypoints(i), b.load_keypoints(i)
        np.testing.assert_array_equal(pa, pb)
        masks, class_ids = a.load_mask(i)
        assert pa.shape == (len(class_ids), 4, 3)
        for j in range(len(class_ids)):
            for x, y, v in pa[j]:
                r, c = int(y), int(x)
                if v == 2:   # visible: on its own (unoccluded) shape
                    assert masks[r, c, j], (i, j)
                elif v == 1:  # hidden: under a later shape
                    assert masks[r, c, j + 1:].any(), (i, j)
                else:        # off the image: unlabelled
                    assert x == y == 0
    visibility = np.concatenate([a.load_keypoints(i)[..., 2].ravel() for i in a.image_ids])
    assert set(visibility.tolist()) == {0, 1, 2}   # the seed shows all three


def test_load_image_gt_carries_keypoints_through_resize_and_flip():
    config = SmallKeypointConfig()
    dataset = keypoint_shapes(3, 128, 128, seed=5)
    for image_id in dataset.image_ids:
        image, meta, class_ids, boxes, masks, points = load_image_gt(
            dataset, config, image_id, return_keypoints=True)
        assert points.shape == (len(class_ids), 4, 3) and points.dtype == np.float32
        raw = dataset.load_keypoints(image_id)
        np.testing.assert_allclose(points[..., :2], raw[..., :2] * 0.5, atol=1e-5)
        np.random.seed(0)
        flipped = load_image_gt(dataset, config, image_id, augmentation=RandomFlip(1.0),
                                return_keypoints=True)[5]
        perm = kp.flip_permutation(config.KEYPOINT_NAMES, config.KEYPOINT_FLIP_PAIRS)
        np.testing.assert_allclose(flipped, kp.clip_to_image(kp.flip_keypoints(points, 64, perm),
                                                             (64, 64)), atol=1e-5)
    # Without return_keypoints: matterport's 5 values.
    assert len(load_image_gt(dataset, config, 0)) == 5


def test_training_samples_have_keypoints_only_with_keypoint_configs():
    config = SmallKeypointConfig()
    dataset = keypoint_shapes(4, 96, 96, seed=2)
    anchors = training_anchors(config)
    sample = build_training_sample(dataset, config, 0, anchors)
    assert len(sample) == 8
    points = sample[7]
    assert points.shape == (config.MAX_GT_INSTANCES, 4, 3) and points.dtype == np.float32
    n = int(np.sum(sample[4] > 0))
    assert np.all(points[n:] == 0)
    np.testing.assert_array_equal(points[:n], load_image_gt(dataset, config, 0,
                                                            return_keypoints=True)[5])
    assert np.any(points[:n, :, 2] > 0)
    batch = next(iter(make_tf_dataset(dataset, config, shuffle=False)))
    assert len(batch) == 8 and tuple(batch[7].shape) == (2, config.MAX_GT_INSTANCES, 4, 3)
    plain = ShapesConfig()
    plain.IMAGES_PER_GPU, plain.BATCH_SIZE = 2, 2
    shapes = ShapesDataset()
    shapes.load_shapes(2, 128, 128, seed=0)
    shapes.prepare()
    assert len(build_training_sample(shapes, plain, 0, training_anchors(plain))) == 7
    # A dataset without keypoints under a keypoint config: unlabelled (v = 0).
    assert np.all(build_training_sample(shapes, SmallKeypointConfig(), 0, anchors)[7] == 0)


def test_bad_load_keypoints_output_names_the_image():
    config = SmallKeypointConfig()

    class Bad(kp.KeypointShapesDataset):
        result = None

        def load_keypoints(self, image_id):
            return self.result(super().load_keypoints(image_id))
    dataset = Bad()
    dataset.load_shapes(1, 96, 96, seed=1)
    dataset.prepare()
    for fn, message in [(lambda p: p[:, :3],
                         "3 keypoints per instance but the dataset's keypoint_names has 4"),
                        (lambda p: p[:0], "keypoints of 0 instances but load_mask"),
                        (lambda p: p[..., :2], "expected \\[instances, keypoints"),
                        (lambda p: p + np.array([0, 0, 1]), "visibilities must be 0, 1 or 2")]:
        Bad.result = staticmethod(fn)
        with pytest.raises(ValueError, match="image 0.*" + message):
            load_image_gt(dataset, config, 0, return_keypoints=True)


# ----------------------------------------------------------------------
# COCO keypoints
# ----------------------------------------------------------------------

def _coco_file(tmp_path, annotations, categories=None):
    from PIL import Image
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(str(tmp_path / "a.png"))
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
        "categories": categories or [
            {"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"],
             "skeleton": [[1, 2], [1, 3]]},
            {"id": 2, "name": "ball"}],
        "annotations": annotations,
    }
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_coco_loader_reads_keypoints_aligned_with_masks(tmp_path):
    from mrcnn.data.coco import load_coco_json
    anns = [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 30],
         "keypoints": [10, 8, 2, 0, 0, 0, 14, 9, 1], "num_keypoints": 2},
        # Outside the image: load_mask drops it, so must load_keypoints.
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [70, 50, 5, 5],
         "keypoints": [71, 51, 2, 0, 0, 0, 0, 0, 0]},
        {"id": 12, "image_id": 1, "category_id": 2, "bbox": [30, 10, 10, 10]},
        {"id": 13, "image_id": 1, "category_id": 1, "bbox": [40, 20, 10, 10]},
    ]
    dataset = load_coco_json(_coco_file(tmp_path, anns))
    assert dataset.keypoint_names == ("nose", "left_eye", "right_eye")
    assert dataset.keypoint_skeleton == (("nose", "left_eye"), ("nose", "right_eye"))
    masks, class_ids = dataset.load_mask(0)
    points = dataset.load_keypoints(0)
    assert points.shape == (masks.shape[-1], 3, 3) == (3, 3, 3)
    # COCO pixel indices -> pixel centres; unlabelled points are zeros.
    assert points[0].tolist() == [[10.5, 8.5, 2], [0, 0, 0], [14.5, 9.5, 1]]
    assert np.all(points[1:] == 0)
    # Config names select and order them by name.
    config = SmallKeypointConfig()
    config.KEYPOINT_NAMES = ("right_eye", "nose")
    config.KEYPOINT_FLIP_PAIRS = config.KEYPOINT_SKELETON = ()
    config.KEYPOINT_OKS_SIGMAS = None
    from mrcnn.data.pipeline import load_keypoints
    ordered = load_keypoints(dataset, config, 0, 3)
    assert ordered[0].tolist() == [[14.5, 9.5, 1], [10.5, 8.5, 2]]
    config.KEYPOINT_NAMES = ("nose", "tail")
    with pytest.raises(ValueError, match="'tail' which the dataset's keypoints"):
        load_keypoints(dataset, config, 0, 3)


def test_coco_files_without_keypoints_have_none(tmp_path):
    from mrcnn.data.coco import load_coco_json
    path = _coco_file(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1,
                                  "bbox": [5, 5, 20, 30]}],
                      categories=[{"id": 1, "name": "thing"}])
    dataset = load_coco_json(path)
    assert dataset.keypoint_names is None and dataset.load_keypoints(0) is None


@pytest.mark.parametrize("change, message", [
    (dict(keypoints=[1, 2, 2]), "annotation 10 has 'keypoints'.*3 numbers for each of the "
                                "category's 3"),
    (dict(keypoints=[1, 2, 3] * 3), "annotation 10 has keypoint visibilities \\[3\\]"),
    (dict(keypoints="nope"), "annotation 10 has 'keypoints'"),
])
def test_coco_bad_keypoints_name_the_file_and_annotation(tmp_path, change, message):
    from mrcnn.data.annotations import AnnotationError
    from mrcnn.data.coco import load_coco_json
    ann = dict({"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 30]}, **change)
    with pytest.raises(AnnotationError, match="kp.json: " + message):
        load_coco_json(_coco_file(tmp_path, [ann]))
    bad_skeleton = [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 3]]}]
    with pytest.raises(AnnotationError, match="kp.json: category 'person' has a skeleton edge"):
        load_coco_json(_coco_file(tmp_path, [], categories=bad_skeleton))
