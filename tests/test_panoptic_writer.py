"""mrcnn.panoptic.writer: PanopticWriter writes what pq_compute reads, and
nothing half-written (the scene is test_panoptic_pq's)."""
import json
import os

import numpy as np
import pytest
from test_panoptic_pq import A, B, CAR, ROAD, SKY, gt_scene, segments_of, write_set

from mrcnn import panoptic
from mrcnn.panoptic import pq_compute
from mrcnn.panoptic.writer import _atomic_write


class _Source(object):
    """The two things a writer asks a dataset: image info and category ids."""
    class_info = [{"source": "", "id": 0, "name": "BG"},
                  {"source": "coco", "id": 1, "name": "person", "isthing": 1},
                  {"source": "coco", "id": 2, "name": "car", "isthing": 1},
                  {"source": "coco", "id": 10, "name": "sky", "isthing": 0},
                  {"source": "coco", "id": 11, "name": "road", "isthing": 0}]
    image_info = [{"id": 1, "source": "coco", "file_name": "000001.jpg"},
                  {"id": 2, "source": "coco", "file_name": "sub/000002.jpg"}]

    def get_source_class_id(self, class_id, source):
        return self.class_info[class_id]["id"]


def _detections_of(ids):
    """The gt scene as detect() output (internal class ids 1, 2) and a semantic map of
    internal stuff ids 3 (sky), 4 (road)."""
    internal = {1: 1, 2: 2}
    things = [s for s in segments_of(ids) if s["category_id"] in internal]
    masks = np.stack([ids == s["id"] for s in things], axis=2)
    semantic = np.where(np.isin(ids, [SKY]), 3, np.where(ids == ROAD, 4, 0))
    return {"masks": masks, "class_ids": np.array([internal[s["category_id"]] for s in things]),
            "scores": np.linspace(0.99, 0.9, len(things))}, semantic


def test_writer_fuses_detections_and_pq_against_the_ground_truth(tmp_path):
    ids = gt_scene()
    gt_json = write_set(str(tmp_path), "gt", [(1, ids, segments_of(ids)),
                                              (2, ids, segments_of(ids))])
    r, semantic = _detections_of(ids)
    pred_json = str(tmp_path / "pred.json")
    with panoptic.PanopticWriter(pred_json, dataset=_Source()) as writer:
        writer.add_detections(0, r, semantic, [3, 4], stuff_area_limit=64)
        keep = [0, 2]  # things in id order: B, the car, A; image 2: the car is not detected
        dropped = dict(r, masks=r["masks"][:, :, keep], class_ids=r["class_ids"][keep],
                       scores=r["scores"][keep])
        writer.add_detections(1, dropped, semantic, [3, 4], stuff_area_limit=64)
        assert not os.path.exists(pred_json)  # the JSON comes at the end
    data = json.load(open(pred_json))
    assert [a["file_name"] for a in data["annotations"]] == ["000001.png", "000002.png"]
    assert sorted(os.listdir(tmp_path / "pred")) == ["000001.png", "000002.png"]
    first = data["annotations"][0]["segments_info"]
    # by descending score (B, the car, A), then the stuff in the order given
    assert [(s["category_id"], s["area"]) for s in first] == \
        [(1, 144), (2, 96), (1, 64), (10, 688), (11, 560)]
    assert first[0]["bbox"] == [4, 24, 12, 12] and first[0]["score"] == pytest.approx(0.99)
    assert "score" not in first[3]
    assert data["categories"][2] == {"id": 10, "name": "sky", "isthing": 0}
    assert data["images"][1] == {"id": 2, "file_name": "sub/000002.jpg", "height": 40,
                                 "width": 40}
    written = panoptic.read_panoptic_png(str(tmp_path / "pred" / "000001.png"))
    assert written.shape == (40, 40) and (written[0:4, 28:40] == 0).all()
    results = pq_compute(gt_json, pred_json)
    # image 2's car pixels fused as void: car TP 1 + FN 1 -> 2/3; the rest perfect
    assert results["per_class"][2]["pq"] == pytest.approx(2 / 3)
    for cat_id in (1, 10, 11):
        assert results["per_class"][cat_id]["pq"] == pytest.approx(1.0)
    assert results["All"]["n"] == 4


def test_writer_leaves_no_json_and_no_temp_files_on_failure(tmp_path):
    pred_json = tmp_path / "pred.json"
    pred_json.write_text('{"annotations": []}')  # an earlier result: kept intact
    ids = gt_scene()
    with pytest.raises(ValueError, match=r"image 2: segment id\(s\) \[2, 3, 5, 131079\] are in "
                                         r"the map but not in segments"):
        with panoptic.PanopticWriter(str(pred_json), dataset=_Source()) as writer:
            writer.add(0, ids, [{"id": A, "category_id": 1}, {"id": B, "category_id": 1},
                                {"id": CAR, "category_id": 2}, {"id": SKY, "category_id": 3},
                                {"id": ROAD, "category_id": 4}])
            writer.add(1, ids, [{"id": A, "category_id": 1}])
    assert pred_json.read_text() == '{"annotations": []}'
    assert sorted(os.listdir(tmp_path / "pred")) == ["000001.png"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _atomic_write(str(target), broken, ".json")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_writer_refuses_duplicate_names(tmp_path):
    writer = panoptic.PanopticWriter(str(tmp_path / "p.json"))
    writer.add(1, np.zeros((2, 2), int), [], file_name="a.png")
    with pytest.raises(ValueError, match=r"two images would write a\.png"):
        writer.add(2, np.zeros((2, 2), int), [], file_name="a.png")
    writer.close()
    assert json.load(open(tmp_path / "p.json"))["annotations"][0] == {
        "image_id": 1, "file_name": "a.png", "segments_info": []}
