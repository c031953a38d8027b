"""mrcnn.panoptic: fusion, PQ and the COCO panoptic writer.

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
from mrcnn.panoptic import PanopticError, fuse, pq_compute

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
    monkeypatch.setattr(panoptic.np, "unique", counting)
    stats = panoptic.pq_image_stats(ids, segments, ids, segments, index)
    assert calls == [ids.size]
    np.testing.assert_array_equal(stats[:, 1], [2, 1, 1, 1, 0])  # TP per category


# ------------------------------------------------------------ bad input ---

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


# ------------------------------------------------------------- fusion ---

def _box_mask(shape, y1, x1, y2, x2):
    m = np.zeros(shape, bool)
    m[y1:y2, x1:x2] = True
    return m


def test_fuse_orders_by_score_and_drops_overlapping():
    shape = (10, 10)
    masks = np.stack([_box_mask(shape, 0, 0, 4, 4),    # score 0.6: 16 px, 8 taken by #1
                      _box_mask(shape, 0, 2, 4, 6),    # score 0.9: first, 16 px
                      _box_mask(shape, 0, 1, 4, 5),    # score 0.7: 12 of 16 taken -> dropped
                      _box_mask(shape, 6, 6, 9, 9),    # score 0.4: below the threshold
                      _box_mask(shape, 5, 0, 5, 0)], axis=2)  # score 0.95: empty, skipped
    class_ids = np.array([1, 2, 1, 2, 1])
    scores = np.array([0.6, 0.9, 0.7, 0.4, 0.95])
    semantic = np.zeros(shape, np.int32)
    pan, segments = fuse(masks, class_ids, scores, semantic, stuff_class_ids=[3])
    assert [(s["id"], s["category_id"], s["isthing"], s["area"], s["score"]) for s in segments] \
        == [(1, 2, 1, 16, 0.9), (2, 1, 1, 8, 0.6)]
    assert pan.dtype == np.int32
    expected = np.zeros(shape, np.int32)
    expected[0:4, 0:2] = 2
    expected[0:4, 2:6] = 1
    np.testing.assert_array_equal(pan, expected)


def test_fuse_thresholds_are_inclusive_where_panopticapi_is():
    shape = (4, 8)
    masks = np.stack([_box_mask(shape, 0, 0, 4, 4), _box_mask(shape, 0, 2, 4, 6)], axis=2)
    # the second instance has exactly half of its pixels taken: kept (> is the drop rule);
    # a score equal to the threshold is kept (< is the drop rule)
    pan, segments = fuse(masks, [1, 1], [0.8, 0.5], np.zeros(shape, int), [],
                         score_threshold=0.5, overlap_threshold=0.5)
    assert [(s["id"], s["area"]) for s in segments] == [(1, 16), (2, 8)]
    _, segments = fuse(masks, [1, 1], [0.8, 0.5], np.zeros(shape, int), [],
                       overlap_threshold=0.49)
    assert [s["id"] for s in segments] == [1]


def test_fuse_stuff_from_free_pixels_with_area_limit():
    shape = (10, 10)
    semantic = np.zeros(shape, np.int32)
    semantic[:5] = 4      # 50 px of stuff 4, 12 of them under the instance
    semantic[5:] = 5      # 50 px of stuff 5
    semantic[9, :] = 1    # a thing class in the semantic map: ignored (void)
    semantic[8, :] = 6    # 10 px of stuff 6: under the area limit
    masks = _box_mask(shape, 2, 2, 5, 6)[:, :, None]  # 12 px
    pan, segments = fuse(masks, [2], [0.9], semantic, stuff_class_ids=[4, 5, 6, 4],
                         stuff_area_limit=30)
    assert [(s["id"], s["category_id"], s["isthing"], s["area"], s["score"]) for s in segments] \
        == [(1, 2, 1, 12, 0.9), (2, 4, 0, 38, None), (3, 5, 0, 30, None)]
    assert (pan[9] == 0).all() and (pan[8] == 0).all()
    # the limit is inclusive: 30 px with a limit of 31 are dropped
    _, segments = fuse(masks, [2], [0.9], semantic, [4, 5, 6], stuff_area_limit=31)
    assert [s["category_id"] for s in segments] == [2, 4]


def _panopticapi_reference(masks, class_ids, scores, semantic, stuff, score_thr, overlap_thr,
                           area_limit):
    """panopticapi's combine procedure as its script runs it, on COCO RLEs
    with pycocotools (areas and unions of RLEs rather than pixel maps)."""
    from pycocotools import mask as rle

    keep = sorted([i for i in range(len(scores)) if scores[i] >= score_thr],
                  key=lambda i: -scores[i])
    pan = np.zeros(semantic.shape, np.uint32)
    used, out, next_id = None, [], 1
    for i in keep:
        segm = rle.encode(np.asfortranarray(masks[:, :, i].astype(np.uint8)))
        area = rle.area(segm)
        if area == 0:
            continue
        intersect = 0 if used is None else rle.area(rle.merge([used, segm], intersect=True))
        if intersect / area > overlap_thr:
            continue
        used = segm if used is None else rle.merge([used, segm], intersect=False)
        m = rle.decode(segm) == 1
        if intersect != 0:
            m = np.logical_and(pan == 0, m)
        pan[m] = next_id
        out.append((next_id, int(class_ids[i])))
        next_id += 1
    for c in stuff:
        left = np.logical_and(pan == 0, semantic == c)
        if left.sum() < area_limit:
            continue
        pan[left] = next_id
        out.append((next_id, c))
        next_id += 1
    return pan, out


@pytest.mark.parametrize("seed", range(6))
def test_fuse_agrees_with_panopticapis_procedure_on_random_scenes(seed):
    rng = np.random.RandomState(seed)
    shape = (48, 64)
    n = rng.randint(3, 12)
    masks = np.zeros(shape + (n,), bool)
    for i in range(n):
        y, x = rng.randint(0, 40), rng.randint(0, 56)
        h, w = rng.randint(4, 24), rng.randint(4, 24)
        masks[y:y + h, x:x + w, i] = True
        masks[:, :, i] &= rng.rand(*shape) > 0.1  # ragged
    class_ids = rng.randint(1, 4, n)
    scores = np.round(rng.rand(n), 2)
    semantic = rng.randint(0, 3, (6, 8)).repeat(8, 0).repeat(8, 1) + 3  # stuff 3..5 blocks
    semantic[rng.rand(*shape) > 0.95] = 1
    for thr in (0.3, 0.6):
        pan, segments = fuse(masks, class_ids, scores, semantic, [3, 4, 5],
                             score_threshold=0.4, overlap_threshold=thr, stuff_area_limit=200)
        ref_pan, ref = _panopticapi_reference(masks, class_ids, scores, semantic, [3, 4, 5],
                                              0.4, thr, 200)
        np.testing.assert_array_equal(pan, ref_pan)
        assert [(s["id"], s["category_id"]) for s in segments] == ref
        for s in segments:
            assert s["area"] == int((pan == s["id"]).sum()) > 0


def test_fuse_bad_input():
    masks = np.zeros((4, 4, 2), bool)
    with pytest.raises(ValueError, match=r"2 masks but 1 class_ids and 2 scores"):
        fuse(masks, [1], [0.9, 0.8], np.zeros((4, 4), int), [])
    with pytest.raises(ValueError, match=r"semantic is \(4, 5\) but the masks are 4x4"):
        fuse(masks, [1, 1], [0.9, 0.8], np.zeros((4, 5), int), [])
    with pytest.raises(ValueError, match=r"masks must be \[H, W, N\]"):
        fuse(np.zeros((4, 4)), [], [], np.zeros((4, 4), int), [])
    with pytest.raises(ValueError, match="integer class ids"):
        fuse(masks, [1, 1], [0.9, 0.8], np.zeros((4, 4), float), [])


def test_rgb_id_round_trip():
    ids = np.array([[0, 1, 255, 256], [65535, 65536, A, 256 ** 3 - 1]])
    rgb = panoptic.id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 4, 3)
    np.testing.assert_array_equal(rgb[1, 2], [1, 3, 0])
    np.testing.assert_array_equal(panoptic.rgb2id(rgb), ids)
    assert panoptic.rgb2id([7, 0, 2]) == SKY
    with pytest.raises(ValueError, match="segment ids must be in"):
        panoptic.id2rgb([256 ** 3])


# ------------------------------------------------------------- writer ---

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
        panoptic._atomic_write(str(target), broken, ".json")
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
