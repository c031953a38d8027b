"""mrcnn.evaluate: ground truth evaluated as predictions scores perfectly."""
import os

import numpy as np

from mrcnn import evaluate, utils
from mrcnn.data.shapes import ShapesDataset


class OracleModel:
    """Returns the ground truth as detections (score 1)."""

    class config:
        BATCH_SIZE = 2

    def __init__(self, dataset):
        self.dataset = dataset
        self.next_id = 0

    def detect(self, images):
        out = []
        for _ in images:
            masks, class_ids = self.dataset.load_mask(self.next_id)
            self.next_id += 1
            keep = masks.any(axis=(0, 1))
            masks, class_ids = masks[..., keep], class_ids[keep]
            out.append({"rois": utils.extract_bboxes(masks), "class_ids": class_ids,
                        "scores": np.ones(len(class_ids), np.float32), "masks": masks})
        return out


def test_ground_truth_as_predictions_gives_ap_1():
    dataset = ShapesDataset()
    dataset.load_shapes(5, 128, 128, seed=3)
    dataset.prepare()
    metrics, results = evaluate.evaluate_dataset(OracleModel(dataset), dataset, verbose=0)
    assert metrics["num_images"] == 5 and len(results) == 5
    assert metrics["mAP50"] == 1.0
    assert metrics["segm_AP"] == 1.0 and metrics["bbox_AP"] == 1.0


def test_encode_mask_round_trip():
    from pycocotools import mask as mask_util
    m = np.zeros((7, 9), bool)
    m[2:5, 3:8] = True
    rle = evaluate.encode_mask(m)
    assert isinstance(rle["counts"], str)
    decoded = mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    np.testing.assert_array_equal(decoded.astype(bool), m)


def test_evaluate_reads_each_ground_truth_once():
    dataset = ShapesDataset()
    dataset.load_shapes(4, 128, 128, seed=5)
    dataset.prepare()
    calls = []
    original = dataset.load_mask
    dataset.load_mask = lambda image_id: calls.append(image_id) or original(image_id)
    metrics, _ = evaluate.evaluate_dataset(OracleModel(dataset), dataset, verbose=0)
    assert metrics["segm_AP"] == 1.0
    # One read per image by the evaluation (the oracle reads its own copy).
    assert sorted(calls) == sorted(list(dataset.image_ids) * 2)


class OneWrongModel(OracleModel):
    """The oracle, but image 0's first detection gets the wrong class."""

    def detect(self, images):
        first = self.next_id
        out = super().detect(images)
        if first == 0 and len(out[0]["class_ids"]):
            out[0]["class_ids"] = out[0]["class_ids"].copy()
            out[0]["class_ids"][0] = 3 if out[0]["class_ids"][0] != 3 else 1
        return out


def test_evaluate_model_returns_json_ready_metrics_per_class_and_results(tmp_path):
    import json

    from pycocotools.coco import COCO

    dataset = ShapesDataset()
    dataset.load_shapes(6, 128, 128, seed=11)
    dataset.prepare()
    path = str(tmp_path / "out" / "detections.json")
    metrics = evaluate.evaluate_model(OracleModel(dataset), dataset, results_json=path,
                                      verbose=0)
    json.dumps(metrics)  # plain types only
    for iou_type in ("segm", "bbox"):
        for name in evaluate.COCO_STAT_NAMES[:3]:
            assert metrics["{}_{}".format(iou_type, name)] == 1.0
    assert metrics["mAP50"] == 1.0 and metrics["results_json"] == path
    assert set(metrics["per_class"]) == {"square", "circle", "triangle"}
    for name, row in metrics["per_class"].items():
        assert row["num_gt"] > 0, name
        assert row["segm_AP"] == row["bbox_AP"] == row["segm_AP50"] == 1.0, name
    with open(path) as f:
        detections = json.load(f)
    assert len(detections) == metrics["num_detections"] > 0
    assert isinstance(detections[0]["segmentation"]["counts"], str)
    assert not [p for p in os.listdir(tmp_path / "out") if p.endswith(".tmp")]
    # The file is a valid COCO results file for the same ground truth.
    loaded = {}
    for i in dataset.image_ids:
        masks, class_ids = dataset.load_mask(i)
        loaded[i] = (masks, class_ids, (128, 128))
    gt = evaluate.coco_ground_truth(dataset, dataset.image_ids, loaded)
    assert isinstance(gt.loadRes(path), COCO)
    print(evaluate.format_metrics(metrics))

    # A wrong class lowers that class's AP; limit takes the first images.
    metrics = evaluate.evaluate_model(OneWrongModel(dataset), dataset, limit=3, verbose=0)
    assert metrics["num_images"] == 3 and metrics["results_json"] is None
    assert metrics["segm_AP"] < 1.0
    rows = metrics["per_class"].values()
    assert min(r["segm_AP"] for r in rows if r["segm_AP"] is not None) < 1.0


def test_class_without_ground_truth_has_no_ap():
    dataset = ShapesDataset()
    dataset.load_shapes(2, 128, 128, seed=3)
    dataset.add_class("shapes", 4, "hexagon")
    dataset.prepare()
    metrics = evaluate.evaluate_model(OracleModel(dataset), dataset, verbose=0)
    assert metrics["per_class"]["hexagon"] == {"class_id": 4, "num_gt": 0, "segm_AP": None,
                                               "segm_AP50": None, "bbox_AP": None,
                                               "bbox_AP50": None}
    assert metrics["segm_AP"] == 1.0
