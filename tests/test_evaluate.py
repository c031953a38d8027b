"""mrcnn.evaluate: ground truth evaluated as predictions scores perfectly."""
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
