"""mrcnn.panoptic.pq: the panoptic quality metric, on a hand-built scene.

The scene helpers here (gt_scene, segments_of, write_set) serve the other
test_panoptic_* modules too.

The PQ tests build a 40x40 ground truth by hand and score perturbed
predictions whose PQ / SQ / RQ are worked out in the comments, following
panopticapi's rules (IoU > 0.5, the prediction's void pixels left out of the
union, crowd and mostly-void predictions ignored, averages over the
categories with TP + FP + FN > 0).

The scene (rows x cols, pixel counts):
    sky   rows 0-19 minus the things and void       800 - 64 - 48 = 688
    road  rows 20-39 minus the things               800 - 144 - 96 = 560
    person A  rows 4-11,  cols 4-11   (on sky)      8 x 8  = 64
    person B  rows 24-35, cols 4-15   (on road)     12 x 12 = 144
    car       rows 24-31, cols 24-35  (on road)     8 x 12 = 96
    void      rows 0-3,   cols 28-39                4 x 12 = 48
"""
import json
import os
from fractions import Fraction as F

import numpy as np
import pytest
from PIL import Image

from mrcnn import panoptic
from mrcnn.panoptic import pq_compute


CATEGORIES = [{"id": 1, "name": "person", "isthing": 1},
              {"id": 2, "name": "car", "isthing": 1},
              {"id": 10, "name": "sky", "isthing": 0},
              {"id": 11, "name": "road", "isthing": 0},
              {"id": 12, "name": "tree", "isthing": 0}]  # in no image: n leaves it out
# Ids spread over R, G and B to exercise the id = R + 256 G + 256^2 B encoding.
A, B, CAR, SKY, ROAD, CROWD = 1 + 3 * 256, 2, 3, 7 + 2 * 65536, 5, 6 * 65536
CATS = {A: 1, B: 1, CAR: 2, SKY: 10, ROAD: 11, CROWD: 1}


def gt_scene(crowd=False):
    ids = np.zeros((40, 40), np.int64)
    ids[:20] = SKY
    ids[20:] = ROAD
    ids[4:12, 4:12] = A
    ids[24:36, 4:16] = B
    ids[24:32, 24:36] = CAR
    ids[0:4, 28:40] = 0
    if crowd:
        ids[12:20, 28:40] = CROWD  # 96 px of crowd person, taken from the sky
    return ids


def segments_of(ids, cats=None, crowd=(CROWD,)):
    cats = {**CATS, **(cats or {})}
    return [{"id": int(i), "category_id": cats[int(i)], "iscrowd": int(int(i) in crowd),
             "area": int((ids == i).sum())} for i in np.unique(ids) if i != 0]


def write_set(folder, name, images, categories=CATEGORIES):
    """COCO panoptic JSON + PNG folder; images: [(image_id, ids, segments)]."""
    png_dir = os.path.join(folder, name)
    os.makedirs(png_dir, exist_ok=True)
    annotations = []
    for image_id, ids, segments in images:
        file_name = "{:06d}.png".format(image_id)
        Image.fromarray(panoptic.id2rgb(ids)).save(os.path.join(png_dir, file_name))
        annotations.append({"image_id": image_id, "file_name": file_name,
                            "segments_info": segments})
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as f:
        json.dump({"annotations": annotations, "categories": categories}, f)
    return path


def score(tmp_path, pred_ids, pred_cats=None, crowd=False, gt=None):
    gt_ids = gt_scene(crowd) if gt is None else gt
    gt_json = write_set(str(tmp_path), "gt", [(1, gt_ids, segments_of(gt_ids))])
    pred_json = write_set(str(tmp_path), "pred",
                          [(1, pred_ids, segments_of(pred_ids, pred_cats, crowd=()))])
    return pq_compute(gt_json, pred_json)


def check(results, per_class, things=None, stuff=None):
    """per_class: {category id: (pq, sq, rq)} of the categories with n > 0;
    the averages are checked against their mean."""
    for cat_id, (pq, sq, rq) in per_class.items():
        got = results["per_class"][cat_id]
        assert got["pq"] == pytest.approx(float(pq)), (cat_id, got)
        assert got["sq"] == pytest.approx(float(sq)), (cat_id, got)
        assert got["rq"] == pytest.approx(float(rq)), (cat_id, got)
    groups = {"All": list(per_class), "Things": [c for c in per_class if c in (1, 2)],
              "Stuff": [c for c in per_class if c in (10, 11, 12)]}
    for name, cats in groups.items():
        assert results[name]["n"] == len(cats), name
        for k, key in enumerate(("pq", "sq", "rq")):
            mean = sum(F(per_class[c][k]) for c in cats) / len(cats)
            assert results[name][key] == pytest.approx(float(mean)), (name, key)
    assert results["per_class"][12] == {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    assert set(results["per_class"]) == {1, 2, 10, 11, 12}


ONE = (1, 1, 1)
ZERO = (0, 0, 0)

# ----------------------------------------------------------------- PQ ---

def test_identical_prediction_is_perfect(tmp_path):
    r = score(tmp_path, gt_scene())
    check(r, {1: ONE, 2: ONE, 10: ONE, 11: ONE})
    assert r["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 4}


def test_eroded_instance_lowers_sq_only(tmp_path):
    pred = gt_scene()
    pred[24:36, 4:16] = ROAD
    pred[25:35, 5:15] = B  # B eroded by one pixel: 10 x 10 = 100 px, its ring becomes road
    # person: A IoU 1, B IoU 100/144 = 25/36 -> TP 2, sum IoU 61/36: PQ = SQ = 61/72, RQ 1
    # road: pred 560 + 44 = 604 px, intersection 560 -> IoU 560/604 = 140/151
    r = score(tmp_path, pred)
    check(r, {1: (F(61, 72), F(61, 72), 1), 2: ONE, 10: ONE,
              11: (F(140, 151), F(140, 151), 1)})


def test_dropped_instance_is_a_false_negative(tmp_path):
    pred = gt_scene()
    pred[24:32, 24:36] = 0  # the car is not predicted (void)
    # car: TP 0, FN 1 -> 0 (but counted in n); road unchanged
    r = score(tmp_path, pred)
    check(r, {1: ONE, 2: ZERO, 10: ONE, 11: ONE})
    assert r["All"]["pq"] == pytest.approx(0.75) and r["Things"]["pq"] == pytest.approx(0.5)


def test_relabelled_instance_is_a_false_negative_and_a_false_positive(tmp_path):
    # the car's pixels predicted as a person: car FN; person TP 2, FP 1
    # person PQ = 2 / (2 + 0.5) = 0.8, SQ = 1, RQ = 0.8
    r = score(tmp_path, gt_scene(), pred_cats={CAR: 1})
    check(r, {1: (F(4, 5), 1, F(4, 5)), 2: ZERO, 10: ONE, 11: ONE})
    assert r["All"]["pq"] == pytest.approx(0.7) and r["All"]["sq"] == pytest.approx(0.75)


def test_split_instance_matches_its_larger_part(tmp_path):
    pred = gt_scene()
    pred[24:36, 11:16] = 20  # B split: cols 4-10 (84 px) keep id B, cols 11-15 (60 px) id 20
    # B's left part IoU 84/144 = 7/12 > 0.5 -> TP; the right part FP (no void under it)
    # person: TP 2, sum IoU 1 + 7/12 = 19/12, FP 1: PQ = (19/12) / 2.5 = 19/30,
    # SQ = 19/24, RQ = 2 / 2.5 = 4/5
    r = score(tmp_path, pred, pred_cats={20: 1})
    check(r, {1: (F(19, 30), F(19, 24), F(4, 5)), 2: ONE, 10: ONE, 11: ONE})


def test_even_split_matches_neither_half(tmp_path):
    pred = gt_scene()
    pred[24:36, 10:16] = 20  # two halves of 72 px: IoU exactly 0.5 is not a match
    # person: A TP; B FN; both halves FP: PQ = 1 / (1 + 1 + 0.5) = 0.4, SQ 1, RQ 0.4
    r = score(tmp_path, pred, pred_cats={20: 1})
    check(r, {1: (F(2, 5), 1, F(2, 5)), 2: ONE, 10: ONE, 11: ONE})


def test_shifted_instance(tmp_path):
    pred = gt_scene()
    pred[24:32, 24:36] = ROAD
    pred[24:32, 27:39] = CAR  # shifted 3 columns right
    # car: intersection 8 x 9 = 72, union 96 + 96 - 72 = 120 -> IoU 3/5
    # road: pred 560 - 24 + 24 = 560, intersection 560 - 24 = 536, union 584 -> 67/73
    r = score(tmp_path, pred)
    check(r, {1: ONE, 2: (F(3, 5), F(3, 5), 1), 10: ONE, 11: (F(67, 73), F(67, 73), 1)})
    assert r["Things"]["pq"] == pytest.approx(0.8)
    assert r["Stuff"]["pq"] == pytest.approx(70 / 73)


def test_shift_to_iou_one_half_is_no_match(tmp_path):
    pred = gt_scene()
    pred[24:32, 24:36] = ROAD
    pred[24:32, 28:40] = CAR  # 4 columns: intersection 64, union 128 -> IoU 0.5
    # car: FN + FP -> 0; road: 560 px again, intersection 528, union 592 -> 33/37
    r = score(tmp_path, pred)
    check(r, {1: ONE, 2: ZERO, 10: ONE, 11: (F(33, 37), F(33, 37), 1)})


def test_false_positive_on_labelled_pixels(tmp_path):
    pred = gt_scene()
    pred[12:16, 20:24] = 30  # a 16 px person on the sky
    # person: TP 2, FP 1 -> PQ 0.8, SQ 1, RQ 0.8
    # sky: pred 672 px all inside the gt's 688 -> IoU 672/688 = 42/43
    r = score(tmp_path, pred, pred_cats={30: 1})
    check(r, {1: (F(4, 5), 1, F(4, 5)), 2: ONE, 10: (F(42, 43), F(42, 43), 1), 11: ONE})


def test_false_positive_mostly_on_void_is_ignored(tmp_path):
    pred = gt_scene()
    pred[0:4, 34:40] = SKY  # the rest of the void predicted as sky
    pred[0:4, 26:34] = 30   # a 32 px person: 24 px on void, 8 px on sky -> 3/4 void: ignored
    # sky: pred 688 - 8 + 24 = 704 px, intersection 680, 24 of its pixels on void:
    # union 704 + 688 - 680 - 24 = 688 -> IoU 680/688 = 85/86
    r = score(tmp_path, pred, pred_cats={30: 1})
    check(r, {1: ONE, 2: ONE, 10: (F(85, 86), F(85, 86), 1), 11: ONE})


def test_false_positive_half_on_void_counts(tmp_path):
    pred = gt_scene()
    pred[0:4, 24:32] = 30  # 32 px: 16 on void, 16 on sky -> exactly 1/2: a false positive
    # person: PQ 0.8; sky: pred 672 px, intersection 672 -> 42/43
    r = score(tmp_path, pred, pred_cats={30: 1})
    check(r, {1: (F(4, 5), 1, F(4, 5)), 2: ONE, 10: (F(42, 43), F(42, 43), 1), 11: ONE})


def test_void_is_left_out_of_the_union(tmp_path):
    pred = gt_scene()
    pred[0:4, 28:40] = SKY  # the gt's void predicted as sky: 736 px, 48 of them on void
    # union 736 + 688 - 688 - 48 = 688 -> IoU 1
    r = score(tmp_path, pred)
    check(r, {1: ONE, 2: ONE, 10: ONE, 11: ONE})


def test_crowd_region_never_matches_nor_counts(tmp_path):
    # the prediction repeats the crowd region as an ordinary person: it is all on the crowd
    # of its category -> ignored; the crowd is no FN
    r = score(tmp_path, gt_scene(crowd=True), crowd=True)
    check(r, {1: ONE, 2: ONE, 10: ONE, 11: ONE})


def test_crowd_of_another_category_does_not_excuse(tmp_path):
    # the crowd person region predicted as a car: no car crowd -> FP car
    # car: TP 1, FP 1 -> PQ 1 / 1.5 = 2/3, SQ 1, RQ 2/3
    r = score(tmp_path, gt_scene(crowd=True), pred_cats={CROWD: 2}, crowd=True)
    check(r, {1: ONE, 2: (F(2, 3), 1, F(2, 3)), 10: ONE, 11: ONE})


def test_crowd_region_predicted_as_stuff_is_not_void(tmp_path):
    pred = gt_scene(crowd=True)
    pred[12:20, 28:40] = SKY
    # sky: gt 688 - 96 = 592 px; pred 688 px, intersection 592, nothing on void
    # -> IoU 592/688 = 37/43
    r = score(tmp_path, pred, crowd=True)
    check(r, {1: ONE, 2: ONE, 10: (F(37, 43), F(37, 43), 1), 11: ONE})


def test_counts_add_up_over_images_before_averaging(tmp_path):
    gt = gt_scene()
    dropped = gt_scene()
    dropped[24:32, 24:36] = ROAD  # image 2: no car, its pixels predicted as road
    gt_json = write_set(str(tmp_path), "gt", [(1, gt, segments_of(gt)),
                                              (2, gt, segments_of(gt))])
    pred_json = write_set(str(tmp_path), "pred", [(2, dropped, segments_of(dropped)),
                                                  (1, gt, segments_of(gt))])
    r = pq_compute(gt_json, pred_json)
    # car: TP 1 (image 1), FN 1 (image 2) -> PQ 1 / 1.5 = 2/3, SQ 1, RQ 2/3
    # road: image 1 IoU 1; image 2 pred 656 px, intersection 560 -> 560/656 = 35/41;
    # TP 2, sum IoU 1 + 35/41 = 76/41 -> PQ = SQ = 38/41
    check(r, {1: ONE, 2: (F(2, 3), 1, F(2, 3)), 10: ONE, 11: (F(38, 41), F(38, 41), 1)})


def test_default_folders_and_table(tmp_path, capsys):
    gt_json = write_set(str(tmp_path), "gt", [(1, gt_scene(), segments_of(gt_scene()))])
    r = pq_compute(gt_json, gt_json, verbose=True)
    assert r["All"]["pq"] == 1.0
    out = capsys.readouterr().out
    assert "All       | 100.0  100.0  100.0     4" in out
    assert "Stuff     | 100.0  100.0  100.0     2" in out


def test_no_category_with_counts_gives_zero_averages():
    stats = np.zeros((2, 4))
    averages, per_class = panoptic.pq_average(stats, CATEGORIES[:2])
    assert averages == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "n": 0}
    assert per_class == {1: {"pq": 0.0, "sq": 0.0, "rq": 0.0}, 2: {"pq": 0.0, "sq": 0.0,
                                                                   "rq": 0.0}}


def test_one_unique_over_the_pairs_not_a_loop_over_segments(monkeypatch):
    calls = []
    real = np.unique

    def counting(values, *args, **kwargs):
        calls.append(np.size(values))
        return real(values, *args, **kwargs)

    ids = gt_scene()
    segments = segments_of(ids)
    index = {c["id"]: k for k, c in enumerate(CATEGORIES)}
    monkeypatch.setattr(np, "unique", counting)
    stats = panoptic.pq_image_stats(ids, segments, ids, segments, index)
    assert calls == [ids.size]
    np.testing.assert_array_equal(stats[:, 1], [2, 1, 1, 1, 0])  # TP per category
