"""LabelMe `point` shapes as keypoints (docs/keypoints.md): a point whose
label is a keypoint name belongs to the object with its group_id.

The files are shaped like LabelMe 5.x writes them (version, flags, shapes
with description/flags/mask, imagePath, imageData null); the expected
keypoints are written out by hand from the files, the molded ones from the
image meta's window.
"""
import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from mrcnn.config import Config
from mrcnn.data.annotations import AnnotationError
from mrcnn.data.augment import RandomFlip
from mrcnn.data.labelme import load_labelme_folder
from mrcnn.data.pipeline import load_image_gt
from mrcnn.molding.meta import parse_image_meta

from test_cli_keypoints import TinyConfig as TinyKeypointConfig

NAMES = ["nose", "left_eye", "right_eye"]


def shape(label, points, shape_type="polygon", group_id=None):
    """One shape as LabelMe 5.5 writes it."""
    return {"label": label, "points": points, "group_id": group_id, "description": "",
            "shape_type": shape_type, "flags": {}, "mask": None}


def point(label, x, y, group_id):
    return shape(label, [[x, y]], "point", group_id)


def labelme_file(image_path, height, width, shapes):
    return {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": height, "imageWidth": width}


def write_folder(root, files, sizes):
    """files: {name: shapes}; sizes: {name: (height, width)}; a PNG beside each."""
    folder = os.path.join(str(root), "annotated")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(0)
    for name, shapes in files.items():
        h, w = sizes[name]
        Image.fromarray(rng.randint(0, 255, (h, w, 3)).astype(np.uint8)).save(
            os.path.join(folder, name + ".png"))
        with open(os.path.join(folder, name + ".json"), "w") as f:
            json.dump(labelme_file(name + ".png", h, w, shapes), f, indent=2)
    return folder


def two_people():
    """a.json (80 x 100): a person split in two polygons (group 1), a person
    rectangle (group 2), a ball circle without group, a person polygon
    entirely off the image (group 4: no mask), and their points."""
    return [
        shape("person", [[10, 10], [40, 10], [40, 40], [10, 40]], group_id=1),
        point("nose", 25.5, 20.25, 1),
        shape("person", [[55, 20], [90, 70]], "rectangle", group_id=2),
        point("right_eye", 60.0, 30.0, 2),
        point("nose", 70.0, 35.5, 2),
        shape("ball", [[30, 60], [30, 70]], "circle"),
        point("left_eye", 20.0, 15.0, 1),
        shape("person", [[10, 42], [40, 42], [25, 60]], group_id=1),   # the same person
        point("tail", 12.0, 50.0, 1),                 # not a keypoint name: skipped
        point("nose", 5.0, 5.0, 3),                   # group 3 has no shape: skipped
        point("right_eye", 120.0, 30.0, 1),           # outside: unlabelled
        shape("person", [[200, 10], [240, 10], [220, 40]], group_id=4),
        point("nose", 50.0, 5.0, 4),                  # its object covers no pixel
        point("left_eye", 55.0, 5.0, 5),              # group 5 is __ignore__: silent
        shape("__ignore__", [[0, 70], [9, 70], [9, 79]], group_id=5),
    ]


def expected_a():
    """The keypoints of a.json's drawn instances (load_mask's order: person
    1, person 2, ball), in NAMES order."""
    return np.array([[[25.5, 20.25, 2], [20.0, 15.0, 2], [0, 0, 0]],
                     [[70.0, 35.5, 2], [0, 0, 0], [60.0, 30.0, 2]],
                     [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], np.float32)


def make_people_folder(root):
    return write_folder(root, {
        "a": two_people(),
        "b": [shape("ball", [[5, 5], [30, 5], [20, 30]])]},   # no points
        {"a": (80, 100), "b": (40, 40)})


def test_points_grouped_by_group_id_are_the_objects_keypoints(tmp_path):
    folder = make_people_folder(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_labelme_folder(folder, keypoint_names=NAMES, ignore_labels=["__ignore__"])
    text = "\n".join(str(w.message) for w in caught)
    assert ("1 point shapes whose label is not in keypoint_names skipped (first: a.json "
            "shape 8 ('tail'))") in text
    assert ("1 keypoints whose group_id has no shape with an area skipped (first: a.json "
            "shape 9 ('nose') (group 3))") in text
    assert "1 keypoints outside the image unlabelled (v = 0) (first: a.json shape 10 " \
           "('right_eye'))" in text
    assert "shape 13" not in text                         # the ignored object's point
    assert dataset.class_names == ["BG", "ball", "person"]   # no keypoint label is a class
    assert dataset.keypoint_names == tuple(NAMES)
    masks, class_ids = dataset.load_mask(0)
    assert list(class_ids) == [2, 2, 1]                   # the off-image person is left out
    points = dataset.load_keypoints(0)
    assert points.dtype == np.float32 and points.shape == (masks.shape[-1], 3, 3)
    np.testing.assert_array_equal(points, expected_a())
    # Each labelled keypoint lies on its object's mask.
    for i, j in zip(*np.nonzero(points[..., 2])):
        x, y = points[i, j, :2]
        assert masks[int(y), int(x), i], (i, j)
    assert dataset.load_mask(1)[0].shape[-1] == 1
    np.testing.assert_array_equal(dataset.load_keypoints(1), np.zeros((1, 3, 3), np.float32))


def test_without_keypoint_names_points_stay_skipped(tmp_path):
    folder = make_people_folder(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = load_labelme_folder(folder, ignore_labels=["__ignore__"])
    assert "9 point shapes (no area) skipped (first: a.json shape 1 ('nose'))" in "\n".join(
        str(w.message) for w in caught)
    assert plain.keypoint_names is None and plain.load_keypoints(0) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_points = load_labelme_folder(folder, ignore_labels=["__ignore__"],
                                          keypoint_names=NAMES)
    # The same images and instances, the keypoints aside.
    for a, b in zip(plain.image_info, with_points.image_info):
        b = dict(b, instances=[{k: v for k, v in inst.items() if k != "keypoints"}
                               for inst in b["instances"]])
        b.pop("drawn_instances", None)
        assert a == b
    for image_id in plain.image_ids:
        for x, y in zip(plain.load_mask(image_id), with_points.load_mask(image_id)):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("extra, message", [
    ([point("nose", 20, 20, None)],
     r"a\.json: shape 1 \('nose'\) is a keypoint without a group_id"),
    ([shape("dog", [[50, 50], [60, 50], [55, 60]], group_id=1), point("nose", 20, 20, 1)],
     r"a\.json: shape 2 \('nose'\) is a keypoint of group 1, which has shapes of several "
     r"labels \('person', 'dog'\)"),
    ([point("nose", 20, 20, 1), point("nose", 21, 21, 1)],
     r"a\.json: shape 2 \('nose'\) is a second 'nose' keypoint of group 1 \(the first is "
     r"shape 1\)"),
    ([shape("nose", [[20, 20], [22, 22]], "point", 1)],
     r"a\.json: shape 1 \('nose'\) is a point shape with points \[\[20, 20\], \[22, 22\]\]; "
     r"expected one \[x, y\]"),
    ([point("nose", 20, 20, [1])], r"a\.json: shape 1 \('nose'\) has group_id \[1\]"),
])
def test_ambiguous_keypoints_name_the_file_and_shape(tmp_path, extra, message):
    folder = write_folder(tmp_path, {"a": [
        shape("person", [[10, 10], [40, 10], [40, 40]], group_id=1)] + extra}, {"a": (64, 64)})
    with pytest.raises(AnnotationError, match=message):
        load_labelme_folder(folder, keypoint_names=NAMES)
    with warnings.catch_warnings():   # without keypoint names the file still loads
        warnings.simplefilter("ignore")
        assert load_labelme_folder(folder).num_images == 1


def test_bad_keypoint_names_and_files_without_points(tmp_path):
    folder = write_folder(tmp_path, {"a": [shape("person", [[10, 10], [40, 10], [40, 40]])]},
                          {"a": (64, 64)})
    for bad, message in (("nose", "must be a list of names"), (["nose", 3], "list of names"),
                         (["nose", "nose"], "has duplicates")):
        with pytest.raises(ValueError, match=message):
            load_labelme_folder(folder, keypoint_names=bad)
    with pytest.warns(UserWarning, match=r"no keypoints found .*nose, left_eye, right_eye"):
        dataset = load_labelme_folder(folder, keypoint_names=NAMES)
    np.testing.assert_array_equal(dataset.load_keypoints(0), np.zeros((1, 3, 3)))


class KeypointConfig(Config):
    NAME = "labelme_kp"
    NUM_CLASSES = 1 + 2
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    BACKBONE = "resnet18"
    MAX_GT_INSTANCES = 4
    # Another order than the dataset's: the pipeline picks them by name.
    KEYPOINT_NAMES = ("right_eye", "nose", "left_eye")
    KEYPOINT_FLIP_PAIRS = (("left_eye", "right_eye"),)


def test_load_image_gt_moves_labelme_keypoints_with_resize_and_flip(tmp_path):
    folder = make_people_folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_labelme_folder(folder, keypoint_names=NAMES, ignore_labels=["__ignore__"])
    config = KeypointConfig()
    image, meta, class_ids, boxes, masks, points = load_image_gt(dataset, config, 0,
                                                                 return_keypoints=True)
    y1, x1, y2, x2 = parse_image_meta(meta[None])["window"][0]
    assert (y1, x1, y2, x2) == (6, 0, 57, 64)    # 80 x 100 -> 51 x 64, padded to 64
    raw = expected_a()[:, [2, 0, 1]]             # the config's order
    want = raw.copy()
    want[..., 0] = raw[..., 0] * (x2 - x1) / 100.0 + x1
    want[..., 1] = raw[..., 1] * (y2 - y1) / 80.0 + y1
    want[raw[..., 2] == 0] = 0
    assert list(class_ids) == [2, 2, 1]
    np.testing.assert_allclose(points, want, atol=1e-4)
    np.random.seed(0)
    flipped = load_image_gt(dataset, config, 0, augmentation=RandomFlip(1.0),
                            return_keypoints=True)[5]
    mirrored = want[:, [2, 1, 0]]                # left and right trade places
    mirrored[..., 0] = np.where(mirrored[..., 2] > 0, 64 - mirrored[..., 0], 0)
    np.testing.assert_allclose(flipped, mirrored, atol=1e-4)


class TinyTrainConfig(TinyKeypointConfig):
    """test_cli_keypoints' tiny keypoint model, with one class."""
    NAME = "tinylabelme"
    NUM_CLASSES = 1 + 1


def box_folder(root):
    """Three 128 x 128 images of bright boxes on grey, each box a LabelMe
    rectangle with its corner and centre as points of its group."""
    folder = os.path.join(str(root), "boxes")
    os.makedirs(folder)
    boxes = {"0": [(20, 30, 70, 90)], "1": [(10, 10, 60, 50), (70, 60, 120, 110)],
             "2": [(40, 20, 100, 80)]}
    for name, rects in boxes.items():
        image = np.full((128, 128, 3), 90, np.uint8)
        shapes = []
        for g, (x0, y0, x1, y1) in enumerate(rects):
            image[y0:y1, x0:x1] = (230, 200, 40)
            shapes += [shape("box", [[x0, y0], [x1, y1]], "rectangle", g),
                       point("corner", x0 + 0.5, y0 + 0.5, g),
                       point("middle", (x0 + x1) / 2.0, (y0 + y1) / 2.0, g)]
        Image.fromarray(image).save(os.path.join(folder, name + ".png"))
        with open(os.path.join(folder, name + ".json"), "w") as f:
            json.dump(labelme_file(name + ".png", 128, 128, shapes), f)
    return folder


def test_mrcnn_train_and_evaluate_read_labelme_keypoints(tmp_path, capsys):
    """`mrcnn train --format labelme --set KEYPOINT_NAMES=[...]` reads the
    point shapes and trains the keypoint head; `mrcnn evaluate` reads them
    with the model's names (the OKS ground truth counts the 4 boxes)."""
    import keras

    from mrcnn.cli import main
    from mrcnn.visualize import read_tensorboard_scalars
    folder = box_folder(tmp_path)
    config_path = str(tmp_path / "tiny.json")
    TinyTrainConfig().save(config_path)
    model_dir, logs = str(tmp_path / "model"), str(tmp_path / "logs")
    keras.utils.set_random_seed(4)
    assert main(["train", "--format", "labelme", "--train", folder, "--config", config_path,
                 "--set", 'KEYPOINT_NAMES=["middle", "corner"]',
                 "--set", "KEYPOINT_OKS_SIGMAS=[0.05,0.05]", "--set", "STEPS_PER_EPOCH=3",
                 "--logs", logs, "--output", model_dir, "--layers", "all", "--epochs", "1",
                 "--quiet"]) == 0
    assert "reading the LabelMe point shapes of middle, corner as keypoints" in \
        capsys.readouterr().out
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)
    assert saved["KEYPOINT_NAMES"] == ["middle", "corner"] and "keypoint" in saved["ROI_HEADS"]
    run = os.path.join(logs, os.listdir(logs)[0])
    values = [v for tag, rows in read_tensorboard_scalars(run)["train"].items()
              if "keypoint_loss" in tag for _, v in rows]
    assert values and all(np.isfinite(values))
    metrics_path = str(tmp_path / "metrics.json")
    assert main(["evaluate", "--model", model_dir, "--format", "labelme", "--dataset", folder,
                 "--metrics", metrics_path, "--quiet"]) == 0
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert metrics["num_keypoint_gt"] == 4 and "keypoints_AP" in metrics
    # Keypoint names are the files' own for other formats.
    from mrcnn.cli import UsageError, load_dataset
    with pytest.raises(UsageError, match="only labelme takes them from the config"):
        load_dataset("shapes", "2", keypoint_names=["a"])
