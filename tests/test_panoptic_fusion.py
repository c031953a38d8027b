"""mrcnn.panoptic.fusion: fuse's rules (panopticapi's combine procedure),
checked by hand and against a re-implementation of panopticapi's script on
random scenes."""
import numpy as np
import pytest

from mrcnn.panoptic import fuse


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


def test_fuse_skips_detections_of_stuff_classes():
    """A detection of a stuff class (the box head has them too) takes no
    pixels: the stuff segment comes from the semantic map alone."""
    shape = (6, 6)
    semantic = np.full(shape, 4, np.int32)
    masks = np.stack([_box_mask(shape, 0, 0, 6, 6),   # class 4 (stuff), score 0.99
                      _box_mask(shape, 0, 0, 2, 2)], axis=2)
    pan, segments = fuse(masks, [4, 1], [0.99, 0.8], semantic, stuff_class_ids=[4],
                         stuff_area_limit=1)
    assert [(s["category_id"], s["isthing"], s["area"]) for s in segments] == [(1, 1, 4),
                                                                                (4, 0, 32)]
    assert (pan == 1).sum() == 4 and (pan == 2).sum() == 32


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
    boxes = np.zeros((n, 4), np.int32)
    for i in range(n):
        y, x = rng.randint(0, 40), rng.randint(0, 56)
        h, w = rng.randint(4, 24), rng.randint(4, 24)
        masks[y:y + h, x:x + w, i] = True
        boxes[i] = y, x, y + h, x + w     # may reach past the image, as a loose box
        masks[:, :, i] &= rng.rand(*shape) > 0.1  # ragged
    class_ids = rng.randint(1, 4, n)          # 3: a stuff class, detected
    scores = np.round(rng.rand(n), 2)
    semantic = rng.randint(0, 3, (6, 8)).repeat(8, 0).repeat(8, 1) + 3  # stuff 3..5 blocks
    semantic[rng.rand(*shape) > 0.95] = 1
    if seed % 2:   # ids that are not stuff, either side (fuse's sorted-search path)
        semantic[rng.rand(*shape) > 0.97] = -1
        semantic[rng.rand(*shape) > 0.97] = 1000
    for thr in (0.3, 0.6):
        pan, segments = fuse(masks, class_ids, scores, semantic, [3, 4, 5],
                             score_threshold=0.4, overlap_threshold=thr, stuff_area_limit=200)
        # panopticapi gets the thing detections (class 3 is stuff: fuse skips it)
        things = class_ids != 3
        ref_pan, ref = _panopticapi_reference(masks[:, :, things], class_ids[things],
                                              scores[things], semantic, [3, 4, 5], 0.4, thr, 200)
        np.testing.assert_array_equal(pan, ref_pan)
        assert [(s["id"], s["category_id"]) for s in segments] == ref
        # Boxes that hold the masks (detect()'s rois) give the same answer.
        boxed = fuse(masks, class_ids, scores, semantic, [3, 4, 5], score_threshold=0.4,
                     overlap_threshold=thr, stuff_area_limit=200, boxes=boxes)
        np.testing.assert_array_equal(boxed[0], pan)
        assert boxed[1] == segments
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
    with pytest.raises(ValueError, match=r"boxes must be \[N, 4\] for the 2 masks"):
        fuse(masks, [1, 1], [0.9, 0.8], np.zeros((4, 4), int), [], boxes=[[0, 0, 2, 2]])
    with pytest.raises(ValueError, match="integer class ids"):
        fuse(masks, [1, 1], [0.9, 0.8], np.zeros((4, 4), float), [])
