"""mrcnn.data.panoptic: the COCO panoptic loader on a hand-made file, its
errors, the synthetic panoptic shapes and writing a set back out."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn import panoptic
from mrcnn.data.annotations import AnnotationError
from mrcnn.data.panoptic import (STUFF_NAMES, PanopticDataset, PanopticShapesDataset,
                                 load_coco_panoptic, load_panoptic_shapes,
                                 write_coco_panoptic)
from mrcnn.data.shapes import ShapesDataset
from mrcnn.panoptic import PanopticError

# Category ids out of order and with gaps, as in COCO: internal ids follow the ids.
CATEGORIES = [{"id": 17, "name": "cat", "isthing": 1, "supercategory": "animal"},
              {"id": 3, "name": "car", "isthing": 1},
              {"id": 200, "name": "grass", "isthing": 0},
              {"id": 187, "name": "sky", "isthing": 0}]
CAT, CAR, CROWD, SKY, GRASS = 1 + 5 * 256, 2, 70000, 3 * 65536, 9


def scene():
    """10 x 12: sky rows 0-4, grass rows 5-9, a cat, a car, a crowd of cars, void."""
    ids = np.zeros((10, 12), np.int64)
    ids[:5] = SKY
    ids[5:] = GRASS
    ids[1:4, 1:5] = CAT
    ids[6:9, 6:11] = CAR
    ids[6:10, 0:3] = CROWD
    ids[0, 9:12] = 0
    segments = [{"id": SKY, "category_id": 187, "iscrowd": 0},
                {"id": CAT, "category_id": 17, "iscrowd": 0},
                {"id": CAR, "category_id": 3, "iscrowd": 0},
                {"id": CROWD, "category_id": 3, "iscrowd": 1},
                {"id": GRASS, "category_id": 200, "iscrowd": 0}]
    for seg in segments:
        seg["area"] = int((ids == seg["id"]).sum())
    return ids, segments


def write_coco_layout(root, ids=None, segments=None, data_update=None, png_ids=None):
    """root/annotations/panoptic_val.json, root/annotations/panoptic_val/*.png,
    root/images/*.jpg (COCO's layout)."""
    default_ids, default_segments = scene()
    ids = default_ids if ids is None else ids
    segments = default_segments if segments is None else segments
    os.makedirs(os.path.join(root, "annotations", "panoptic_val"), exist_ok=True)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    Image.fromarray(np.full(ids.shape + (3,), 90, np.uint8)).save(
        os.path.join(root, "images", "000000000042.jpg"))
    Image.fromarray(panoptic.id2rgb(ids if png_ids is None else png_ids)).save(
        os.path.join(root, "annotations", "panoptic_val", "000000000042.png"))
    data = {"images": [{"id": 42, "file_name": "000000000042.jpg", "height": ids.shape[0],
                        "width": ids.shape[1]}],
            "annotations": [{"image_id": 42, "file_name": "000000000042.png",
                             "segments_info": segments}],
            "categories": CATEGORIES}
    data.update(data_update or {})
    path = os.path.join(root, "annotations", "panoptic_val.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


# ------------------------------------------------------------ COCO panoptic ---

def test_classes_things_and_stuff(tmp_path):
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path)))
    assert dataset.class_names == ["BG", "car", "cat", "sky", "grass"]
    np.testing.assert_array_equal(dataset.thing_class_ids, [1, 2])
    np.testing.assert_array_equal(dataset.stuff_class_ids, [3, 4])
    assert [dataset.get_source_class_id(i, "coco") for i in range(1, 5)] == [3, 17, 187, 200]
    assert dataset.class_info[3]["isthing"] == 0
    # the default folders: annotations/panoptic_val/ for the PNGs, images/ beside annotations/
    info = dataset.image_info[0]
    assert info["path"] == os.path.join(str(tmp_path), "images", "000000000042.jpg")
    assert info["panoptic_path"] == os.path.join(str(tmp_path), "annotations", "panoptic_val",
                                                 "000000000042.png")
    assert dataset.load_image(0).shape == (10, 12, 3)


def test_load_mask_gives_the_things_with_crowd_negated(tmp_path):
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path)))
    ids, _ = scene()
    masks, class_ids = dataset.load_mask(0)
    assert masks.dtype == bool and masks.shape == (10, 12, 3)
    np.testing.assert_array_equal(class_ids, [2, 1, -1])  # cat, car, crowd of cars
    for k, sid in enumerate([CAT, CAR, CROWD]):
        np.testing.assert_array_equal(masks[:, :, k], ids == sid)
    assert masks[:, :, 2].sum() == 12


def test_load_semantic_gives_stuff_class_ids_zero_elsewhere(tmp_path):
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path)))
    semantic = dataset.load_semantic(0)
    assert semantic.dtype == np.int32 and semantic.shape == (10, 12)
    expected = np.zeros((10, 12), np.int32)
    expected[:5] = 3        # sky
    expected[5:] = 4        # grass
    expected[1:4, 1:5] = 0  # cat
    expected[6:9, 6:11] = 0  # car
    expected[6:10, 0:3] = 0  # crowd
    expected[0, 9:] = 0     # void
    np.testing.assert_array_equal(semantic, expected)
    ids, segments = dataset.load_panoptic(0)
    assert ids.dtype == np.int32 and int(ids[2, 2]) == CAT and segments[0]["id"] == SKY


def test_explicit_folders_and_source(tmp_path):
    path = write_coco_layout(str(tmp_path))
    moved = tmp_path / "pngs"
    os.rename(os.path.join(str(tmp_path), "annotations", "panoptic_val"), str(moved))
    dataset = PanopticDataset()
    dataset.load_coco_panoptic(path, str(moved), str(tmp_path / "images"), source="mine")
    dataset.prepare()
    assert dataset.get_source_class_id(2, "mine") == 17
    assert dataset.load_mask(0)[1].tolist() == [2, 1, -1]


def test_png_id_not_in_json_names_png_and_segment(tmp_path):
    ids, segments = scene()
    segments = [s for s in segments if s["id"] != CAR]
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path), ids, segments))
    with pytest.raises(PanopticError, match=r"000000000042\.png: image 42: segment id\(s\) "
                                            r"\[2\] are in the PNG but not in segments_info"):
        dataset.load_mask(0)


def test_json_segment_not_in_png_names_json_and_segment(tmp_path):
    ids, segments = scene()
    png_ids = ids.copy()
    png_ids[png_ids == CAT] = SKY
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path), ids, segments,
                                                   png_ids=png_ids))
    with pytest.raises(PanopticError, match=r"panoptic_val\.json: image 42: segment id\(s\) "
                                            r"\[1281\] are listed in segments_info but absent"):
        dataset.load_semantic(0)


def test_unknown_category_fails_at_load_time(tmp_path):
    ids, segments = scene()
    segments[2]["category_id"] = 99
    path = write_coco_layout(str(tmp_path), ids, segments)
    with pytest.raises(PanopticError, match=r"panoptic_val\.json: image 42 "
                                            r"\(000000000042\.png\): segment 2 has category_id "
                                            r"99 which is not in 'categories'"):
        load_coco_panoptic(path)
    assert issubclass(PanopticError, AnnotationError)


def test_missing_png_and_image_are_listed(tmp_path):
    path = write_coco_layout(str(tmp_path))
    os.remove(os.path.join(str(tmp_path), "annotations", "panoptic_val", "000000000042.png"))
    os.remove(os.path.join(str(tmp_path), "images", "000000000042.jpg"))
    with pytest.raises(FileNotFoundError, match=r"2 file\(s\) not found: .*000000000042\.png, "
                                                r".*000000000042\.jpg"):
        load_coco_panoptic(path)
    dataset = load_coco_panoptic(path, check_files=False)
    with pytest.raises(FileNotFoundError, match=r"panoptic PNG of image 42 not found"):
        dataset.load_mask(0)


def test_png_of_another_size(tmp_path):
    ids, segments = scene()
    path = write_coco_layout(str(tmp_path), data_update={"images": [
        {"id": 42, "file_name": "000000000042.jpg", "height": 10, "width": 13}]})
    dataset = load_coco_panoptic(path)
    with pytest.raises(PanopticError, match=r"image 42: the PNG is 10x12 but the JSON says "
                                            r"10x13"):
        dataset.load_mask(0)


@pytest.mark.parametrize("update, message", [
    ({"annotations": [{"image_id": 7, "file_name": "x.png", "segments_info": []}]},
     r"annotations\[0\] \(x\.png\) has image_id 7 which is not in 'images'"),
    ({"annotations": [{"image_id": 42, "file_name": "x.png"}]},
     r"annotations\[0\] has no 'segments_info'"),
    ({"categories": [{"id": 3, "name": "car"}]},
     r"category 3 \('car'\) needs 'isthing' 0 or 1"),
    ({"annotations": [{"image_id": 42, "file_name": "x.png", "segments_info": [
        {"id": 1, "category_id": 3}, {"id": 1, "category_id": 3}]}]},
     r"image 42 \(x\.png\): segment id 1 is listed twice"),
    ({"annotations": [{"image_id": 42, "file_name": "x.png", "segments_info": [
        {"id": 0, "category_id": 3}]}]},
     r"segment id 0 is outside 1\.\.16777215 \(0 is void\)"),
    ({"images": {"id": 42}}, r"'images' is a dict, expected a list"),
])
def test_malformed_json_names_the_entry(tmp_path, update, message):
    path = write_coco_layout(str(tmp_path), data_update=update)
    with pytest.raises(PanopticError, match=message):
        load_coco_panoptic(path)


def test_corrupt_json(tmp_path):
    path = write_coco_layout(str(tmp_path))
    with open(path, "w") as f:
        f.write('{"images": [}')
    with pytest.raises(PanopticError, match=r"panoptic_val\.json: invalid JSON at line 1"):
        load_coco_panoptic(path)


def test_image_without_annotation_is_skipped_and_reported(tmp_path):
    path = write_coco_layout(str(tmp_path), data_update={"images": [
        {"id": 42, "file_name": "000000000042.jpg", "height": 10, "width": 12},
        {"id": 43, "file_name": "000000000043.jpg"}]})
    dataset = PanopticDataset()
    dataset.load_coco_panoptic(path)
    dataset.prepare()
    assert dataset.num_images == 1
    assert dataset.load_warnings == [
        "{}: 1 image(s) without a panoptic annotation skipped".format(path)]


# ------------------------------------------------------- synthetic shapes ---

def test_panoptic_shapes_reproducible_and_built_on_the_shapes():
    a = load_panoptic_shapes(6, 96, 96, seed=5)
    b = load_panoptic_shapes(6, 96, 96, seed=5)
    shapes = ShapesDataset()
    shapes.load_shapes(6, 96, 96, seed=5)
    shapes.prepare()
    assert a.class_names == ["BG", "square", "circle", "triangle"] + list(STUFF_NAMES)
    np.testing.assert_array_equal(a.thing_class_ids, [1, 2, 3])
    np.testing.assert_array_equal(a.stuff_class_ids, [4, 5, 6])
    for i in a.image_ids:
        np.testing.assert_array_equal(a.load_image(i), b.load_image(i))
        np.testing.assert_array_equal(a.load_semantic(i), b.load_semantic(i))
        # the things are ShapesDataset's shapes for the same seed
        masks, class_ids = a.load_mask(i)
        ref_masks, ref_ids = shapes.load_mask(i)
        np.testing.assert_array_equal(masks, ref_masks)
        np.testing.assert_array_equal(class_ids, ref_ids)
    other = load_panoptic_shapes(6, 96, 96, seed=6)
    assert any(not np.array_equal(a.load_semantic(i), other.load_semantic(i))
               for i in a.image_ids)


def test_panoptic_shapes_regions_textures_and_semantic():
    dataset = load_panoptic_shapes(12, 128, 128, seed=2)
    counts = set()
    for i in dataset.image_ids:
        info = dataset.image_info[i]
        classes = [c for c, _, _ in info["stuff"]]
        counts.add(len(classes))
        assert len(set(classes)) == len(classes) and set(classes) <= {4, 5, 6}
        semantic = dataset.load_semantic(i)
        masks, _ = dataset.load_mask(i)
        on_shapes = masks.any(axis=2)
        # 0 exactly on the shapes, a region's class everywhere else
        np.testing.assert_array_equal(semantic == 0, on_shapes)
        assert set(np.unique(semantic[~on_shapes])) <= set(classes)
        ids, segments = dataset.load_panoptic(i)
        assert (ids > 0).all()  # no void in the synthetic set
        assert [s["id"] for s in segments] == list(range(1, len(segments) + 1))
        image = dataset.load_image(i)
        regions = dataset.stuff_map(i)
        for class_id, colour, _ in info["stuff"]:
            visible = (regions == class_id) & ~on_shapes
            if visible.sum() < 200:
                continue
            pixels = image[visible].astype(int)
            assert len(np.unique(pixels, axis=0)) > 1  # textured, not flat
            # the region's colour scaled by a texture factor in [0.7, 1]
            assert (pixels <= np.array(colour)).all()
            assert (pixels >= np.floor(0.7 * np.array(colour))).all()
    assert counts == {2, 3}


def test_panoptic_shapes_region_count_option():
    dataset = load_panoptic_shapes(4, 96, 96, seed=1, regions=(1,))
    assert all(len(info["stuff"]) == 1 for info in dataset.image_info)
    with pytest.raises(ValueError, match=r"regions must be counts in 1\.\.3"):
        PanopticShapesDataset().load_panoptic_shapes(1, 96, 96, regions=(4,))


# ----------------------------------------------------- writing a set out ---

def test_write_coco_panoptic_round_trip_and_perfect_pq(tmp_path):
    dataset = load_panoptic_shapes(5, 96, 96, seed=3)
    gt_json = str(tmp_path / "panoptic_gt.json")
    write_coco_panoptic(dataset, gt_json, image_dir=str(tmp_path / "images"))
    data = json.load(open(gt_json))
    assert [c["name"] for c in data["categories"]] == ["square", "circle", "triangle", "sky",
                                                       "grass", "sea"]
    assert [c["isthing"] for c in data["categories"]] == [1, 1, 1, 0, 0, 0]
    assert len(os.listdir(tmp_path / "panoptic_gt")) == 5
    seg = data["annotations"][0]["segments_info"][0]
    assert set(seg) == {"id", "category_id", "iscrowd", "area", "bbox"}

    back = load_coco_panoptic(gt_json, image_dir=str(tmp_path / "images"), source="shapes")
    assert back.class_names == dataset.class_names
    for i in dataset.image_ids:
        np.testing.assert_array_equal(back.load_image(i), dataset.load_image(i))
        np.testing.assert_array_equal(back.load_semantic(i), dataset.load_semantic(i))
        m1, c1 = back.load_mask(i)
        m2, c2 = dataset.load_mask(i)
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(m1, m2)

    # the ground truth's own things and stuff, fused, score PQ 1
    pred_json = str(tmp_path / "pred.json")
    with panoptic.PanopticWriter(pred_json, dataset=dataset, source="shapes") as writer:
        for i in dataset.image_ids:
            masks, class_ids = dataset.load_mask(i)
            r = {"masks": masks, "class_ids": class_ids, "scores": np.ones(len(class_ids))}
            writer.add_detections(i, r, dataset.load_semantic(i), dataset.stuff_class_ids,
                                  stuff_area_limit=1)
    results = panoptic.pq_compute(gt_json, pred_json)
    assert results["All"]["pq"] == 1.0 and results["All"]["n"] == 6

    # the same with half the instances missing: things' RQ drops, stuff's SQ drops
    with panoptic.PanopticWriter(pred_json, dataset=dataset, source="shapes") as writer:
        for i in dataset.image_ids:
            masks, class_ids = dataset.load_mask(i)
            r = {"masks": masks, "class_ids": class_ids,
                 "scores": np.where(np.arange(len(class_ids)) % 2, 0.9, 0.1)}
            writer.add_detections(i, r, dataset.load_semantic(i), dataset.stuff_class_ids,
                                  stuff_area_limit=1)
    results = panoptic.pq_compute(gt_json, pred_json)
    assert results["Things"]["rq"] < 1.0 and results["Things"]["sq"] == 1.0
    assert results["Stuff"]["rq"] == 1.0


def test_write_coco_panoptic_keeps_crowd_flags(tmp_path):
    dataset = load_coco_panoptic(write_coco_layout(str(tmp_path / "src")))
    out = str(tmp_path / "copy.json")
    write_coco_panoptic(dataset, out)
    segments = json.load(open(out))["annotations"][0]["segments_info"]
    _, original = scene()
    assert [(s["id"], s["category_id"], s["iscrowd"], s["area"]) for s in segments] == \
        [(s["id"], s["category_id"], s["iscrowd"], s["area"]) for s in original]
    assert json.load(open(out))["images"][0]["file_name"] == "000000000042.jpg"
    results = panoptic.pq_compute(os.path.join(str(tmp_path / "src"), "annotations",
                                               "panoptic_val.json"), out)
    assert results["All"]["pq"] == 1.0 and results["Things"]["n"] == 2
