"""OKS keypoint AP through mrcnn.evaluate: a COCO person-keypoints file
(written here, with a crowd region and unlabelled v = 0 points) round-trips
through load_keypoints; its ground truth written as results scores
keypoint AP 1.0; a result with one keypoint moved scores what the OKS
formula gives by hand; the results JSON carries COCO's keypoints."""

import json

import numpy as np
import pytest
from PIL import Image

from mrcnn import evaluate, utils
from mrcnn.config import COCO_KEYPOINT_NAMES, Config
from mrcnn.data.coco import load_coco_json

SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
            [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6],
            [5, 7]]


def _person(ann_id, image_id, x, y, w, h, labelled):
    """A rectangle person with keypoints on a grid inside it; `labelled`
    of the 17 are labelled (alternately v = 2 and 1), the others v = 0."""
    points = []
    for k in range(17):
        if k < labelled:
            points += [x + 2 + (k % 5) * (w - 4) // 4, y + 2 + (k // 5) * (h - 4) // 3,
                       2 if k % 2 == 0 else 1]
        else:
            points += [0, 0, 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
            "bbox": [x, y, w, h], "area": w * h, "keypoints": points,
            "num_keypoints": labelled}


@pytest.fixture()
def person_file(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(str(tmp_path / name))
    crowd_mask = np.zeros((100, 120), np.uint8)
    crowd_mask[70:95, 5:40] = 1
    # An uncompressed RLE (column-major run lengths) for the crowd region.
    flat = crowd_mask.flatten(order="F")
    runs, current, count = [], 0, 0
    for value in flat:
        if value == current:
            count += 1
        else:
            runs.append(count)
            current, count = value, 1
    runs.append(count)
    data = {
        "images": [{"id": 7, "file_name": "a.png", "width": 120, "height": 100},
                   {"id": 9, "file_name": "b.png", "width": 120, "height": 100}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": SKELETON}],
        "annotations": [
            _person(1, 7, 50, 10, 40, 60, labelled=12),
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [100, 120], "counts": runs}, "bbox": [5, 70, 35, 25],
             "area": int(crowd_mask.sum()), "keypoints": [0] * 51, "num_keypoints": 0},
            _person(3, 9, 10, 10, 30, 50, labelled=17),
            _person(4, 9, 60, 30, 50, 60, labelled=9),
        ],
    }
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(data))
    return str(path), data


class PersonConfig(Config):
    NAME = "person"
    NUM_CLASSES = 2
    IMAGES_PER_GPU = 1
    KEYPOINT_NAMES = COCO_KEYPOINT_NAMES


class ResultsModel:
    """detect() returns given results, in the order of the images asked."""

    def __init__(self, results, config=None):
        self.results = list(results)
        self.config = config or PersonConfig()

    def detect(self, images):
        return [self.results.pop(0) for _ in images]


def _ground_truth_results(dataset):
    """The non-crowd ground truth as detect() results (score 1; keypoints
    with score 1 where labelled, 0 where v = 0)."""
    out = []
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        points = dataset.load_keypoints(image_id)
        keep = class_ids > 0
        kp = points[keep].copy()
        kp[..., 2] = (kp[..., 2] > 0).astype(np.float32)
        out.append({"rois": utils.extract_bboxes(masks[..., keep]), "class_ids": class_ids[keep],
                    "scores": np.ones(keep.sum(), np.float32), "masks": masks[..., keep],
                    "keypoints": kp})
    return out


def test_load_keypoints_round_trips_the_coco_file(person_file):
    path, data = person_file
    dataset = load_coco_json(path)
    assert dataset.keypoint_names == COCO_KEYPOINT_NAMES
    assert dataset.keypoint_skeleton[0] == ("left_ankle", "left_knee")
    by_image = {7: [a for a in data["annotations"] if a["image_id"] == 7],
                9: [a for a in data["annotations"] if a["image_id"] == 9]}
    for image_id in dataset.image_ids:
        anns = by_image[dataset.image_info[image_id]["id"]]
        masks, class_ids = dataset.load_mask(image_id)
        points = dataset.load_keypoints(image_id)
        assert points.shape == (len(anns), 17, 3) == (masks.shape[-1], 17, 3)
        for ann, cid, got in zip(anns, class_ids, points):
            assert cid == (-1 if ann["iscrowd"] else 1)
            want = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
            labelled = want[:, 2] > 0
            # COCO's pixel indices come back as pixel centres; v = 0 as zeros.
            np.testing.assert_array_equal(got[labelled, :2], want[labelled, :2] + 0.5)
            np.testing.assert_array_equal(got[:, 2], want[:, 2])
            assert np.all(got[~labelled] == 0)


def test_ground_truth_as_results_scores_keypoint_ap_1(person_file, tmp_path):
    path, data = person_file
    dataset = load_coco_json(path)
    out = str(tmp_path / "results.json")
    metrics = evaluate.evaluate_model(ResultsModel(_ground_truth_results(dataset)), dataset,
                                      results_json=out, verbose=0)
    for name in ("AP", "AP50", "AP75", "APm"):
        assert metrics["keypoints_" + name] == pytest.approx(1.0), name
    assert metrics["keypoints_APl"] is None          # all persons are medium
    assert metrics["num_keypoint_gt"] == 3          # the crowd region is not one
    assert metrics["per_class"]["person"]["keypoints_AP"] == pytest.approx(1.0)
    assert metrics["segm_AP"] == pytest.approx(1.0)
    # The results file: COCO's integer keypoints again, v = 2 where predicted.
    written = json.load(open(out))
    files = [a for a in data["annotations"] if not a["iscrowd"]]
    assert len(written) == len(files)
    for det, ann in zip(written, files):
        want = np.asarray(ann["keypoints"]).reshape(17, 3)
        got = np.asarray(det["keypoints"]).reshape(17, 3)
        np.testing.assert_array_equal(got[:, :2], want[:, :2])
        np.testing.assert_array_equal(got[:, 2], np.where(want[:, 2] > 0, 2, 0))
        assert det["num_keypoints"] == ann["num_keypoints"]
        assert len(det["keypoint_scores"]) == 17
    assert "kpts  AP 1.000" in evaluate.format_metrics(metrics)


def test_a_moved_keypoint_scores_the_oks_computed_by_hand(person_file):
    path, data = person_file
    dataset = load_coco_json(path)
    results = _ground_truth_results(dataset)
    # Image 7 has one person (12 labelled keypoints) and a crowd region.
    first = results[0]
    assert len(first["class_ids"]) == 1
    dx, dy = 3.0, 4.0                     # 5 pixels away
    first["keypoints"][0, 0, :2] += (dx, dy)
    masks, _ = dataset.load_mask(0)
    area = float(masks[..., 0].sum())     # the ground truth's area: its mask
    assert area == 40 * 60
    sigma = 0.026                         # nose, COCO
    e = (dx ** 2 + dy ** 2) / (2 * area * (2 * sigma) ** 2)
    oks = (11 + np.exp(-e)) / 12          # 11 exact keypoints, the nose moved
    thresholds = np.linspace(0.5, 0.95, 10)
    assert np.min(np.abs(thresholds - oks)) > 0.01   # not on a threshold
    want = np.mean(oks >= thresholds)    # one instance: AP is 1 or 0 per threshold
    assert 0 < want < 1
    metrics = evaluate.evaluate_model(ResultsModel(results[:1]), dataset, image_ids=[0],
                                      verbose=0)
    assert metrics["keypoints_AP"] == pytest.approx(want, abs=1e-6)
    assert metrics["keypoints_AP50"] == pytest.approx(1.0)
    assert metrics["keypoints_AP75"] == pytest.approx(1.0 if oks >= 0.75 else 0.0)
    assert 1.0 - metrics["keypoints_AP"] == pytest.approx(1.0 - want, abs=1e-6)
    # Masks and boxes are untouched by the keypoints.
    assert metrics["segm_AP"] == pytest.approx(1.0)


def test_keypoint_ap_needs_sigmas_for_other_names(person_file):
    from mrcnn.data.keypoints import KeypointShapesConfig, keypoint_shapes

    class NoSigmas(KeypointShapesConfig):
        KEYPOINT_OKS_SIGMAS = None

    dataset = keypoint_shapes(2, 80, 80, seed=1)
    with pytest.raises(ValueError, match="config.KEYPOINT_OKS_SIGMAS is not set"):
        evaluate.evaluate_model(ResultsModel([], NoSigmas()), dataset, verbose=0)


def test_evaluate_coco_scores_keypoints_against_the_file(person_file):
    path, _ = person_file
    dataset = load_coco_json(path)
    got = evaluate.evaluate_coco(ResultsModel(_ground_truth_results(dataset)), dataset,
                                 dataset.coco, eval_type="keypoints", verbose=0)
    assert got["AP"] == pytest.approx(1.0) and got["AP50"] == pytest.approx(1.0) and set(got) == {
        "AP", "AP50", "AP75", "APm", "APl"}
