"""mrcnn/data/annotations.py, the helpers the annotation formats share:
JSON reading with errors that name the file, image paths, rasterising
polygons / ellipses / RLEs (pycocotools' pixel convention), stacking
instances, problem counting and field checks. Hand-computed cases; the
formats themselves are in test_data_coco.py, test_data_via.py, ..."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

from mrcnn.data import annotations as A
from mrcnn.data.dataset import Dataset


# ---------------------------------------------------------------------------
# read_json
# ---------------------------------------------------------------------------

def test_read_json_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf{"images": [1, 2]}')
    assert A.read_json(str(path)) == {"images": [1, 2]}


def test_read_json_errors_name_the_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match=r"^VIA project not found: .*nope\.json$"):
        A.read_json(missing, what="VIA project")
    with pytest.raises(A.AnnotationError, match=r"annotation file .* is a directory"):
        A.read_json(str(tmp_path))
    cases = {
        b"": r"empty\.json: the file is empty",
        b"  \n\t": r"empty\.json: the file is empty",
        b'{"a": 1}\xff': r"empty\.json: not UTF-8 text \(byte 8\)",
        b'{\n  "a": 1,\n}': r"empty\.json: invalid JSON at line 3 column 1",
    }
    path = tmp_path / "empty.json"
    for raw, message in cases.items():
        path.write_bytes(raw)
        with pytest.raises(A.AnnotationError, match=message):
            A.read_json(str(path))
    assert issubclass(A.AnnotationError, ValueError)


# ---------------------------------------------------------------------------
# Paths and sizes
# ---------------------------------------------------------------------------

def test_resolve_image_path_falls_back_to_the_base_name(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "y.jpg").write_bytes(b"")
    d = str(tmp_path)
    assert A.resolve_image_path(d, "sub/y.jpg") == os.path.join(d, "sub/y.jpg")
    assert A.resolve_image_path(d, "images/x.jpg") == os.path.join(d, "x.jpg")
    assert A.resolve_image_path(d, "C:\\data\\x.jpg") == os.path.join(d, "x.jpg")
    # Neither exists: the path as given (the loader reports it).
    assert A.resolve_image_path(d, "images/z.jpg") == os.path.join(d, "images/z.jpg")


def test_default_image_dir(tmp_path):
    (tmp_path / "annotations").mkdir()
    json_path = str(tmp_path / "annotations" / "instances.json")
    assert A.default_image_dir(json_path) == str(tmp_path / "annotations")
    (tmp_path / "images").mkdir()
    assert A.default_image_dir(json_path) == str(tmp_path / "images")
    (tmp_path / "labels").mkdir()
    assert A.default_image_dir(str(tmp_path / "labels" / "x.json")) == str(tmp_path / "labels")


def test_image_size_from_the_header(tmp_path):
    Image.new("RGB", (7, 5)).save(tmp_path / "a.png")
    assert A.image_size(str(tmp_path / "a.png")) == (5, 7)
    (tmp_path / "b.png").write_bytes(b"not an image")
    assert A.image_size(str(tmp_path / "b.png")) is None
    assert A.image_size(str(tmp_path / "missing.png")) is None


def test_points_outside_is_inclusive_of_the_border():
    assert not A.points_outside([0, 0, 10, 0, 10, 8], 8, 10)
    assert A.points_outside([0, 0, 10.5, 0, 10, 8], 8, 10)
    assert A.points_outside([0, -0.1, 10, 0, 10, 8], 8, 10)
    assert A.points_outside([0, 0, 5, 9, 1, 1], 8, 10)


# ---------------------------------------------------------------------------
# Rasterising
# ---------------------------------------------------------------------------

def test_polygon_through_pixel_corners_fills_the_block():
    """(0, 0), (10, 0), (10, 10), (0, 10): exactly the 10 x 10 block of rows
    and columns 0..9 (pixel (r, c) covers [c, c + 1) x [r, r + 1))."""
    mask = A.polygons_to_mask([A.box_polygon(0, 0, 10, 10)], 20, 20)
    want = np.zeros((20, 20), bool)
    want[:10, :10] = True
    np.testing.assert_array_equal(mask, want)
    # Shifted by (3, 2), two polygons united, one reaching outside: clipped.
    mask = A.polygons_to_mask([A.box_polygon(3, 2, 4, 4), A.box_polygon(15, 15, 10, 10)], 20, 20)
    want = np.zeros((20, 20), bool)
    want[2:6, 3:7] = True
    want[15:, 15:] = True
    np.testing.assert_array_equal(mask, want)
    assert A.box_polygon(1, 2, 3, 4) == [1, 2, 4, 2, 4, 6, 1, 6]


def test_polygons_to_rle_edge_cases():
    assert mask_util.decode(A.polygons_to_rle([], 4, 5)).sum() == 0
    assert mask_util.decode(A.polygons_to_rle([], 4, 5)).shape == (4, 5)
    with pytest.raises(ValueError, match=">= 3 points"):
        A.polygons_to_rle([[0, 0, 5, 5]], 8, 8)


def test_ellipse_mask_by_pixel_centres():
    # Circle of radius 2 at (5, 5): centres (c + .5, r + .5) within 2 are the
    # 4 x 4 block of rows/cols 3..6 without its corners (1.5^2 * 2 > 4).
    mask = A.ellipse_mask(5, 5, 2, 2, 10, 10)
    want = np.zeros((10, 10), bool)
    want[3:7, 3:7] = True
    want[[3, 3, 6, 6], [3, 6, 3, 6]] = False
    np.testing.assert_array_equal(mask, want)
    assert mask.sum() == 12
    # A quarter turn swaps the radii.
    np.testing.assert_array_equal(A.ellipse_mask(10, 8, 6, 2, 20, 20, theta=np.pi / 2),
                                  A.ellipse_mask(10, 8, 2, 6, 20, 20))
    wide = A.ellipse_mask(10, 8, 6, 2, 20, 20)
    assert wide.any(axis=0).sum() == 12 and wide.any(axis=1).sum() == 4
    # Degenerate or off the image: empty.
    assert not A.ellipse_mask(5, 5, 0, 3, 10, 10).any()
    assert not A.ellipse_mask(-10, -10, 3, 3, 10, 10).any()


def test_render_shapes_unites_every_kind():
    h, w = 6, 5
    # Uncompressed RLE: column-major runs; pixels 25..27 are column 4, rows 1..3.
    rle = {"size": [h, w], "counts": [25, 3, 2]}
    extra = np.zeros((h, w), bool)
    extra[5, 0] = True
    compressed = mask_util.encode(np.asfortranarray(np.eye(h, w, dtype=np.uint8)))
    compressed = {"size": compressed["size"], "counts": compressed["counts"].decode("ascii")}
    out = A.render_shapes([{"type": "polygon", "points": A.box_polygon(0, 0, 2, 1)},
                           {"type": "rle", "rle": rle},
                           {"type": "mask", "mask": extra}], h, w)
    want = np.zeros((h, w), bool)
    want[0, :2] = True
    want[1:4, 4] = True
    want[5, 0] = True
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(A.render_shapes([{"type": "rle", "rle": compressed}], h, w),
                                  np.eye(h, w, dtype=bool))
    circle = A.render_shapes([{"type": "ellipse", "cx": 2.5, "cy": 3, "rx": 1, "ry": 1}], h, w)
    np.testing.assert_array_equal(circle, A.ellipse_mask(2.5, 3, 1, 1, h, w))
    with pytest.raises(ValueError, match="unknown shape type 'spline'"):
        A.render_shapes([{"type": "spline"}], h, w)


class Regions(Dataset):
    def __init__(self):
        super().__init__()
        self.add_class("via", 1, "cat")
        self.add_class("via", 2, "dog")
        self.add_class("other", 1, "tree")
        self.prepare()


def test_stack_rendered_instances_leaves_out_empty_ones():
    dataset = Regions()
    info = {"source": "via", "instances": [
        {"class_id": 2, "shapes": [{"type": "polygon", "points": A.box_polygon(1, 1, 2, 2)}]},
        {"class_id": 1, "shapes": [{"type": "polygon",                  # off the image
                                    "points": A.box_polygon(50, 50, 5, 5)}]},
        {"class_id": 1, "shapes": [{"type": "ellipse", "cx": 6, "cy": 6, "rx": 1, "ry": 1}]},
    ]}
    masks, class_ids = A.stack_rendered_instances(dataset, info, 8, 8)
    assert masks.shape == (8, 8, 2) and masks.dtype == bool
    assert class_ids.dtype == np.int32
    assert class_ids.tolist() == [dataset.map_source_class_id("via.2"),
                                  dataset.map_source_class_id("via.1")]
    assert dataset.class_names[class_ids[0]] == "dog" and masks[..., 0].sum() == 4
    # shapes_of picks the shapes from another field.
    info = {"source": "via", "instances": [{"class_id": 1, "geometry": [
        {"type": "polygon", "points": A.box_polygon(0, 0, 8, 8)}]}]}
    masks, class_ids = A.stack_rendered_instances(dataset, info, 8, 8,
                                                  shapes_of=lambda inst: inst["geometry"])
    assert masks.all() and dataset.class_names[class_ids[0]] == "cat"
    masks, class_ids = A.stack_rendered_instances(dataset, {"source": "via", "instances": []},
                                                  4, 3)
    assert masks.shape == (4, 3, 0) and class_ids.shape == (0,)


# ---------------------------------------------------------------------------
# Problems and field checks
# ---------------------------------------------------------------------------

def test_problem_counter_warns_once_per_kind():
    counter = A.ProblemCounter("data/via.json")
    counter.add("regions without a class skipped", "image a.jpg region 2")
    counter.add("points outside the image clipped", "image b.jpg region 0")
    counter.add("regions without a class skipped", "image c.jpg region 0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages = counter.report()
    assert messages == [
        "data/via.json: 2 regions without a class skipped (first: image a.jpg region 2)",
        "data/via.json: 1 points outside the image clipped (first: image b.jpg region 0)"]
    assert [str(w.message) for w in caught] == messages
    assert A.ProblemCounter("x").report() == []


def test_number_checks():
    for good in (0, 3, -2.5, 1e30):
        assert A._is_number(good)
    for bad in (True, False, float("nan"), float("inf"), "3", None, [1]):
        assert not A._is_number(bad)
    assert A._is_number_list([0, 1.5, 2, 3])
    assert A._is_number_list([])
    for bad in ([1, float("nan")], [1, "2"], ["1", 2], [True, 2], [[1, 2]], (1, 2), "12", None):
        assert not A._is_number_list(bad), bad


def test_require_names_file_entry_and_field():
    entry = {"id": 7, "bbox": "wide"}
    assert A._require(entry, "id", "annotation 7", "a.json", int) == 7
    with pytest.raises(A.AnnotationError, match=r"^a\.json: annotation 7 has no 'area' field$"):
        A._require(entry, "area", "annotation 7", "a.json")
    with pytest.raises(A.AnnotationError, match=r"a\.json: annotation 7 field 'bbox' is 'wide'; "
                                                r"expected list"):
        A._require(entry, "bbox", "annotation 7", "a.json", list)
    with pytest.raises(A.AnnotationError, match=r"expected int or float"):
        A._require({"area": True}, "area", "annotation 8", "a.json", (int, float))
    with pytest.raises(A.AnnotationError, match=r"a\.json: annotation 9 is a list, expected an "
                                                r"object"):
        A._require([1], "id", "annotation 9", "a.json")
