"""mrcnn.data.coco_segmentation: the polygons, RLEs and boxes of COCO
annotations, checked at load time and decoded into masks. The reference
masks are pycocotools' (frPyObjects / decode) of the same segmentation.
The test export is test_data_coco's."""
import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image
from test_data_coco import _rle_of, _uncompressed_rle, make_coco_export

from mrcnn.data.annotations import AnnotationError, ProblemCounter
from mrcnn.data.coco import load_coco_json
from mrcnn.data.coco_segmentation import (ann_to_mask, ann_to_rle, check_rle_sizes,
                                          clean_segmentation)


@pytest.fixture
def export(tmp_path):
    return make_coco_export(str(tmp_path))


def test_three_point_rule_and_clipping_warnings(tmp_path, export):
    json_path, image_dir, data = export
    data["annotations"][0]["segmentation"].append([1, 1, 5, 5])  # 2 points: dropped part
    data["annotations"].append({"id": 99, "image_id": 103, "category_id": 3, "iscrowd": 0,
                                "segmentation": [[3, 3, 9, 9]]})  # nothing left: dropped
    data["annotations"].append({"id": 100, "image_id": 103, "category_id": 3, "iscrowd": 0,
                                "segmentation": [], "bbox": [50, 40, 30, 10]})  # box only
    path = str(tmp_path / "edited.json")
    with open(path, "w") as f:
        json.dump(data, f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_coco_json(path, image_dir)
    text = "\n".join(str(w.message) for w in caught)
    assert "2 polygons with fewer than 3 points skipped (first: annotation 1)" in text
    assert "1 annotations without a valid polygon skipped (first: annotation 99)" in text
    assert "1 boxes reaching outside the image clipped (first: annotation 100)" in text
    assert "used their bbox as mask" in text
    from pycocotools import mask as mask_util
    first = mask_util.decode(mask_util.merge(mask_util.frPyObjects(
        data["annotations"][0]["segmentation"][:1], 96, 128))).astype(bool)
    np.testing.assert_array_equal(dataset.load_mask(0)[0][..., 0], first)
    masks, class_ids = dataset.load_mask(2)
    expected = np.zeros((64, 64), bool)
    expected[40:50, 50:64] = True  # clipped at the right border
    assert list(class_ids) == [1]
    np.testing.assert_array_equal(masks[..., 0], expected)


_HUGE_POLYGONS = r'''
import json, sys
import numpy as np
from mrcnn.data.coco import load_coco_json
json_path = sys.argv[1]
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    dataset = load_coco_json(json_path)
masks, class_ids = dataset.load_mask(0)
print(json.dumps({"sums": masks.sum(axis=(0, 1)).tolist(),
                  "edge_rows": [int(np.flatnonzero(masks[:, c, 3])[0]) for c in (0, 32, 63)],
                  "warnings": [str(w.message) for w in caught]}))
'''


def test_huge_polygon_coordinates_neither_crash_nor_hang(tmp_path):
    """Coordinates of 1e8-1e300 (pycocotools hangs from ~1e8 and crashes the
    interpreter from ~1e9) are clipped to the image keeping the shape's
    pixels inside it. Run in a child process: a crash must fail the test,
    not end the test run."""
    import subprocess
    import sys

    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(str(tmp_path / "images" / "a.png"))
    big = [
        [-1e9, -1e9, 1e9, -1e9, 0, 1e9],      # covers the whole image
        [5, 5, 1e9, 5, 5, 1e9],               # within the image: x >= 5, y >= 5
        [-1e300, 10, 30, 10, 30, 1e300],      # beyond any int: x <= 30, y >= 10
        # A top edge from (-1e9, 10) to (1e6, 20): it crosses the image at
        # y = 19.9. Clamping the vertices to a box would move it to y ~ 15
        # (the clamped end sits at y 10 just left of the image).
        [-1e9, 10, 1e6, 20, 1e6, 1e6, -1e9, 1e6],
        [10, 10, 30, 10, 20, 1e8],            # 1e8 alone: minutes in pycocotools
    ]
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentation": [p]} for i, p in enumerate(big)]}
    os.makedirs(str(tmp_path / "annotations"))
    path = str(tmp_path / "annotations" / "big.json")
    with open(path, "w") as f:
        json.dump(data, f)
    import mrcnn
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(  # the mrcnn under test
        [os.path.dirname(os.path.dirname(os.path.abspath(mrcnn.__file__))),
         os.environ.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", _HUGE_POLYGONS, path], capture_output=True,
                           text=True, timeout=120, env=env)
    assert child.returncode == 0, child.stderr[-2000:]
    out = json.loads(child.stdout.splitlines()[-1])
    assert out["sums"][0] == 48 * 64
    assert out["sums"][1] == (64 - 5) * (48 - 5)
    assert out["sums"][2] == 30 * (48 - 10)
    assert out["edge_rows"] == [20, 20, 20] and out["sums"][3] == 28 * 64
    assert out["sums"][4] > 0
    assert any("5 polygons reaching outside the image clipped" in w for w in out["warnings"])


def test_polygons_within_the_margin_are_pycocotools_exactly():
    """Clipping only touches polygons reaching far out: anything drawn past
    the border by hand rasterises exactly as pycocotools does."""
    from pycocotools import mask as mask_util

    from mrcnn.data.annotations import clip_polygon, polygons_to_mask
    rng = np.random.RandomState(3)
    for _ in range(200):
        h, w = rng.randint(8, 50, 2)
        n = rng.randint(3, 9)
        points = np.stack([rng.uniform(-3 * w, 4 * w, n), rng.uniform(-3 * h, 4 * h, n)], 1)
        flat = points.ravel().tolist()
        expected = mask_util.decode(mask_util.frPyObjects([flat], h, w))[..., 0]
        np.testing.assert_array_equal(polygons_to_mask([flat], h, w), expected.astype(bool))
        np.testing.assert_array_equal(clip_polygon(flat, h, w), points.ravel())


def test_clip_polygon_keeps_the_inside_of_any_polygon():
    """Sutherland-Hodgman against the box: what lies inside the box is the
    same point set, for concave and self-intersecting polygons too (checked
    by an even-odd point test at many points of the box)."""
    from matplotlib.path import Path

    from mrcnn.data.annotations import clip_polygon
    rng = np.random.RandomState(4)
    h, w, margin = 20, 30, 5
    probe = np.stack([rng.uniform(-margin, w + margin, 4000),
                      rng.uniform(-margin, h + margin, 4000)], 1)
    for _ in range(100):
        points = rng.uniform(-200, 200, (rng.randint(3, 8), 2))
        clipped = clip_polygon(points.ravel(), h, w, margin=margin).reshape(-1, 2)
        assert np.all(clipped >= -margin - 1e-9)
        assert np.all(clipped[:, 0] <= w + margin + 1e-9)
        assert np.all(clipped[:, 1] <= h + margin + 1e-9)
        inside = Path(points).contains_points(probe)
        kept = Path(clipped).contains_points(probe) if len(clipped) >= 3 else \
            np.zeros(len(probe), bool)
        # Points within 1e-6 of an edge may go either way.
        assert np.mean(inside != kept) < 0.002


def test_each_kind_is_checked_and_decoded_as_pycocotools_does():
    """The module's functions on their own: a bare polygon (not wrapped in
    a list), both RLE kinds and a box-only annotation give pycocotools'
    masks; the recoverable problems are counted; the errors name the file
    and the annotation."""
    from pycocotools import mask as mask_util
    h, w = 20, 30
    problems = ProblemCounter("f.json")

    def clean(ann, where="annotation 1", height=h, width=w):
        return clean_segmentation(ann, where, "f.json", height, width, problems)

    polygon = [2.0, 3.0, 20.5, 3.0, 20.5, 15.0, 2.0, 15.0]
    bare = clean({"segmentation": polygon, "iscrowd": True})
    assert bare["segmentation"] == [polygon] and bare["iscrowd"] == 1
    expected = mask_util.decode(mask_util.frPyObjects([polygon], h, w))[..., 0]
    np.testing.assert_array_equal(ann_to_mask(bare, h, w), expected)
    assert mask_util.area(ann_to_rle(bare, h, w)) == expected.sum() > 0

    mask = np.zeros((h, w), np.uint8)
    mask[5:9, 10:25] = 1
    for segm in (_rle_of(mask), _uncompressed_rle(mask)):
        np.testing.assert_array_equal(ann_to_mask(clean({"segmentation": segm}), h, w), mask)

    box = clean({"segmentation": [], "bbox": [25, 10, 10, 4]}, "annotation 5")
    expected = np.zeros((h, w), np.uint8)
    expected[10:14, 25:] = 1  # clipped at the right border
    np.testing.assert_array_equal(ann_to_mask(box, h, w), expected)
    assert clean({"segmentation": [[1, 1, 5, 5]]}, "annotation 6") is None
    assert problems.counts == {"annotations without segmentation used their bbox as mask": 1,
                               "boxes reaching outside the image clipped": 1,
                               "polygons with fewer than 3 points skipped": 1,
                               "annotations without a valid polygon skipped": 1}
    assert problems.first["polygons with fewer than 3 points skipped"] == "annotation 6"

    with pytest.raises(AnnotationError, match=r"f\.json: annotation 2 has RLE size \[20\]; "
                                              r"expected \[height, width\]"):
        clean({"segmentation": {"size": [20], "counts": []}}, "annotation 2")
    with pytest.raises(AnnotationError, match=r"f\.json: annotation 3 has a compressed RLE "
                                              r"that cannot be decoded"):
        clean({"segmentation": {"size": [h, w], "counts": "garbage!!"}}, "annotation 3")
    # Without an image size a compressed RLE waits for check_rle_sizes.
    late = clean({"id": 4, "image_id": 7, "segmentation": {"size": [10, w], "counts": "x"}},
                 "annotation 4", None, None)
    with pytest.raises(AnnotationError, match=r"f\.json: annotation 4 of image 7 \(a\.png\): "
                                              r"RLE mask size 10x30 differs from the image's "
                                              r"20x30"):
        check_rle_sizes([late], h, w, "a.png", "f.json", decode=True)
    with pytest.raises(AnnotationError, match=r"f\.json: annotation 4 has a compressed RLE "
                                              r"that cannot be decoded"):
        check_rle_sizes([late], 10, w, "a.png", "f.json", decode=True)
