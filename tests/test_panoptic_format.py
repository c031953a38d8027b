"""mrcnn.panoptic.format: segment ids <-> RGB, and the checks of COCO
panoptic files (PNGs that disagree with their JSON, malformed JSON, missing
files), which name the file, the image and the segment. The checks run as
pq_compute meets them; the scene is test_panoptic_pq's."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from test_panoptic_pq import A, CAR, SKY, gt_scene, segments_of, write_set

from mrcnn import panoptic
from mrcnn.panoptic import PanopticError, pq_compute


def _pred_with(tmp_path, ids, segments, name="pred"):
    gt_ids = gt_scene()
    gt_json = write_set(str(tmp_path), "gt", [(1, gt_ids, segments_of(gt_ids))])
    return gt_json, write_set(str(tmp_path), name, [(1, ids, segments)])


def test_png_segment_missing_from_json(tmp_path):
    ids = gt_scene()
    segments = [s for s in segments_of(ids) if s["id"] != CAR]
    gt_json, pred_json = _pred_with(tmp_path, ids, segments)
    with pytest.raises(PanopticError, match=r"000001\.png: image 1: segment id\(s\) \[3\] are "
                                            r"in the PNG but not in segments_info"):
        pq_compute(gt_json, pred_json)


def test_json_segment_missing_from_png(tmp_path):
    ids = gt_scene()
    segments = segments_of(ids) + [{"id": 99, "category_id": 1, "iscrowd": 0}]
    gt_json, pred_json = _pred_with(tmp_path, ids, segments)
    with pytest.raises(PanopticError, match=r"pred\.json: image 1: segment id\(s\) \[99\] are "
                                            r"listed in segments_info but absent"):
        pq_compute(gt_json, pred_json)


def test_unknown_category(tmp_path):
    ids = gt_scene()
    gt_json, pred_json = _pred_with(tmp_path, ids, segments_of(ids, {CAR: 77}))
    with pytest.raises(PanopticError, match=r"pred\.json: image 1: segment 3 has category_id "
                                            r"77 which is not among the categories"):
        pq_compute(gt_json, pred_json)


def test_missing_prediction_png_and_folder(tmp_path):
    ids = gt_scene()
    gt_json, pred_json = _pred_with(tmp_path, ids, segments_of(ids))
    os.remove(os.path.join(str(tmp_path), "pred", "000001.png"))
    with pytest.raises(FileNotFoundError, match=r"predicted PNG of image 1 not found: .*"
                                                r"000001\.png"):
        pq_compute(gt_json, pred_json)
    with pytest.raises(FileNotFoundError, match="folder of the prediction PNGs not found"):
        pq_compute(gt_json, pred_json, pred_folder=str(tmp_path / "nowhere"))


def test_missing_image_in_prediction(tmp_path):
    ids = gt_scene()
    gt_json = write_set(str(tmp_path), "gt", [(1, ids, segments_of(ids)),
                                              (5, ids, segments_of(ids))])
    pred_json = write_set(str(tmp_path), "pred", [(1, ids, segments_of(ids))])
    with pytest.raises(PanopticError, match=r"no prediction for image 5 \(000005\.png\)"):
        pq_compute(gt_json, pred_json)


def test_corrupt_json_and_wrong_fields(tmp_path):
    ids = gt_scene()
    gt_json, pred_json = _pred_with(tmp_path, ids, segments_of(ids))
    with open(pred_json, "w") as f:
        f.write('{"annotations": [')
    with pytest.raises(PanopticError, match=r"pred\.json: invalid JSON at line 1"):
        pq_compute(gt_json, pred_json)
    with open(pred_json, "w") as f:
        json.dump({"annotations": [{"image_id": 1, "file_name": "000001.png",
                                    "segments_info": [{"id": "3", "category_id": 2}]}]}, f)
    with pytest.raises(PanopticError, match=r"segments_info\[0\] has id '3', expected an "
                                            r"integer"):
        pq_compute(gt_json, pred_json)
    with open(gt_json, "w") as f:
        json.dump({"annotations": [], "categories": [{"id": 1, "name": "x"}]}, f)
    with pytest.raises(PanopticError, match=r"category 1 \('x'\) needs 'isthing' 0 or 1"):
        pq_compute(gt_json, pred_json)


def test_sizes_and_png_modes(tmp_path):
    ids = gt_scene()
    gt_json, pred_json = _pred_with(tmp_path, ids[:30], segments_of(ids[:30]))
    with pytest.raises(PanopticError, match=r"the predicted PNG .* is 30x40 but the ground "
                                            r"truth .* is 40x40"):
        pq_compute(gt_json, pred_json)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(
        os.path.join(str(tmp_path), "pred", "000001.png"))
    with pytest.raises(PanopticError, match=r"is a 'L' image; COCO panoptic PNGs are RGB"):
        pq_compute(gt_json, pred_json)


def test_rgb_id_round_trip():
    ids = np.array([[0, 1, 255, 256], [65535, 65536, A, 256 ** 3 - 1]])
    rgb = panoptic.id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 3)
    np.testing.assert_array_equal(rgb[1, 2], [1, 3, 0])
    np.testing.assert_array_equal(panoptic.rgb2id(rgb), ids)
    assert panoptic.rgb2id([7, 0, 2]) == SKY
    with pytest.raises(ValueError, match="segment ids must be in"):
        panoptic.id2rgb([256 ** 3])
