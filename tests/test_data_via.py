"""mrcnn.data.via: VGG Image Annotator region files.

Reference masks: polygons and rectangles are rendered here with pycocotools
straight from the file's points (the rasterisation convention the package
uses for every format: pixel (r, c) covers [c, c+1) x [r, r+1)); circles and
ellipses with skimage.draw.ellipse shifted by half a pixel (skimage puts
pixel centres on integer coordinates). PIL's ImageDraw.polygon puts them on
integers too and also fills the outline, so it is compared up to the
pixels within one pixel of its outline only.
"""
import json
import os
import warnings

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image, ImageDraw

from mrcnn.data.coco import AnnotationError
from mrcnn.data.via import load_via_json


def coco_polygon(xs, ys, height, width):
    from pycocotools import mask as mask_util
    flat = np.stack([xs, ys], axis=1).astype(float).ravel().tolist()
    return mask_util.decode(mask_util.merge(
        mask_util.frPyObjects([flat], height, width))).astype(bool)


def skimage_ellipse(cx, cy, rx, ry, height, width, theta=0.0):
    import skimage.draw
    out = np.zeros((height, width), bool)
    rr, cc = skimage.draw.ellipse(cy - 0.5, cx - 0.5, ry, rx, shape=(height, width),
                                  rotation=-theta)
    out[rr, cc] = True
    return out


def ellipse_outline(cx, cy, rx, ry, n=24):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return (np.round(cx + rx * np.cos(t)).astype(int).tolist(),
            np.round(cy + ry * np.sin(t)).astype(int).tolist())


def write_image(path, height, width, masks=(), seed=0):
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 50, (height, width, 3)).astype(np.uint8)
    for k, m in enumerate(masks):
        pixels[m] = (220, 40 + 60 * k, 40)
    Image.fromarray(pixels).save(path, quality=95)


def make_via_export(root):
    """A VIA 1.x export with every shape kind, regions as object and list."""
    xs, ys = ellipse_outline(40, 45, 25, 18)
    regions_a = {  # old VIA 1.x style: an object keyed by index
        "0": {"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
              "region_attributes": {"colour": "red"}},
        "1": {"shape_attributes": {"name": "rect", "x": 70, "y": 10, "width": 30,
                                   "height": 20},
              "region_attributes": {"colour": "blue"}},
        "2": {"shape_attributes": {"name": "circle", "cx": 95.5, "cy": 70.2, "r": 12.6},
              "region_attributes": {"colour": "red"}},
        "10": {"shape_attributes": {"name": "ellipse", "cx": 30.2, "cy": 85.7, "rx": 20.3,
                                    "ry": 8.4},
               "region_attributes": {"colour": "blue"}},
    }
    regions_b = [  # list style, checkbox attribute, a polygon reaching outside
        {"shape_attributes": {"name": "polygon", "all_points_x": [50, 95, 60],
                              "all_points_y": [-10, 20, 50]},
         "region_attributes": {"colour": {"red": True, "blue": False}}},
        {"shape_attributes": {"name": "polygon", "all_points_x": [3, 9],
                              "all_points_y": [3, 9]},
         "region_attributes": {"colour": "red"}},
        {"shape_attributes": {"name": "point", "cx": 5, "cy": 5},
         "region_attributes": {"colour": "red"}},
    ]
    data = {
        "a.jpg12345": {"filename": "a.jpg", "size": 12345, "regions": regions_a,
                       "file_attributes": {}},
        "b.png999": {"filename": "b.png", "size": 999, "regions": regions_b,
                     "file_attributes": {}},
        "c.png1": {"filename": "c.png", "size": 1, "regions": [], "file_attributes": {}},
    }
    write_image(os.path.join(root, "a.jpg"), 100, 120)
    write_image(os.path.join(root, "b.png"), 64, 80)
    write_image(os.path.join(root, "c.png"), 32, 32)
    path = os.path.join(root, "via_region_data.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path, data


def _load(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_via_json(path, **kwargs)


def test_masks_and_classes_are_the_files(tmp_path):
    path, data = make_via_export(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_via_json(path, class_attribute="colour")
    text = "\n".join(str(w.message) for w in caught)
    assert "1 polygons with fewer than 3 points skipped (first: b.png region 1)" in text
    assert "1 point regions (no area) skipped (first: b.png region 2)" in text
    assert "1 shapes reaching outside the image clipped (first: b.png region 0)" in text
    assert dataset.class_names == ["BG", "blue", "red"]
    assert [info["id"] for info in dataset.image_info] == ["a.jpg", "b.png", "c.png"]

    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (100, 120, 4) and masks.dtype == bool
    assert list(class_ids) == [2, 1, 2, 1]
    shape = data["a.jpg12345"]["regions"]
    poly = shape["0"]["shape_attributes"]
    np.testing.assert_array_equal(
        masks[..., 0], coco_polygon(poly["all_points_x"], poly["all_points_y"], 100, 120))
    expected = np.zeros((100, 120), bool)
    expected[10:30, 70:100] = True
    np.testing.assert_array_equal(masks[..., 1], expected)
    np.testing.assert_array_equal(masks[..., 2], skimage_ellipse(95.5, 70.2, 12.6, 12.6,
                                                                 100, 120))
    np.testing.assert_array_equal(masks[..., 3], skimage_ellipse(30.2, 85.7, 20.3, 8.4,
                                                                 100, 120))

    masks, class_ids = dataset.load_mask(1)
    assert masks.shape == (64, 80, 1) and list(class_ids) == [2]
    np.testing.assert_array_equal(masks[..., 0], coco_polygon([50, 95, 60], [-10, 20, 50],
                                                              64, 80))
    assert dataset.load_mask(2)[0].shape == (32, 32, 0)
    assert dataset.image_reference(1) == os.path.join(str(tmp_path), "b.png")
    assert dataset.load_image(0).shape == (100, 120, 3)


def test_polygons_agree_with_pil_up_to_the_outline(tmp_path):
    path, data = make_via_export(str(tmp_path))
    dataset = _load(path)
    ours = dataset.load_mask(0)[0][..., 0]
    poly = data["a.jpg12345"]["regions"]["0"]["shape_attributes"]
    image = Image.new("L", (120, 100), 0)
    ImageDraw.Draw(image).polygon(list(zip(poly["all_points_x"], poly["all_points_y"])),
                                  fill=1, outline=1)
    pil = np.array(image).astype(bool)
    outline = Image.new("L", (120, 100), 0)
    ImageDraw.Draw(outline).polygon(list(zip(poly["all_points_x"], poly["all_points_y"])),
                                    fill=0, outline=1)
    # Half a pixel apart in each direction: within one pixel of PIL's outline.
    edge = scipy.ndimage.binary_dilation(np.array(outline).astype(bool),
                                         structure=np.ones((3, 3), bool))
    differ = ours != pil
    assert differ.any() and not (differ & ~edge).any()
    assert abs(int(ours.sum()) - int(pil.sum())) < 0.1 * pil.sum()


def test_single_class_skip_empty_and_class_names(tmp_path):
    path, _ = make_via_export(str(tmp_path))
    dataset = _load(path, default_class="balloon", skip_empty=True)
    assert dataset.class_names == ["BG", "balloon"] and dataset.num_images == 2
    assert list(dataset.load_mask(0)[1]) == [1, 1, 1, 1]
    fixed = _load(path, class_attribute="colour", class_names=["red", "blue", "green"])
    assert fixed.class_names == ["BG", "red", "blue", "green"]
    assert list(fixed.load_mask(0)[1]) == [1, 2, 1, 2]
    with pytest.raises(AnnotationError, match=r"a\.jpg region 1 has class 'blue', which is "
                                              r"not in class_names"):
        _load(path, class_attribute="colour", class_names=["red"])
    with pytest.raises(AnnotationError, match=r"a\.jpg region 0 has no class in region "
                                              r"attribute 'kind'"):
        _load(path, class_attribute="kind")


def test_via2_projects_and_lists(tmp_path):
    path, data = make_via_export(str(tmp_path))
    project = {"_via_settings": {}, "_via_img_metadata": data, "_via_attributes": {}}
    p2 = tmp_path / "project.json"
    p2.write_text(json.dumps(project))
    assert _load(str(p2)).num_images == 3
    p3 = tmp_path / "list.json"
    p3.write_text(json.dumps(list(data.values())))
    assert _load(str(p3)).num_images == 3


def test_rotated_ellipse_turns_clockwise_on_screen(tmp_path):
    write_image(str(tmp_path / "r.png"), 64, 64)
    data = {"r": {"filename": "r.png", "regions": [
        {"shape_attributes": {"name": "ellipse", "cx": 32, "cy": 32, "rx": 25, "ry": 3,
                              "theta": np.pi / 4}, "region_attributes": {}}]}}
    (tmp_path / "r.json").write_text(json.dumps(data))
    mask = _load(str(tmp_path / "r.json")).load_mask(0)[0][..., 0]
    assert mask[47, 47] and mask[16, 16] and not mask[16, 47] and not mask[47, 16]
    np.testing.assert_array_equal(mask, skimage_ellipse(32, 32, 25, 3, 64, 64, np.pi / 4))


def test_bad_files_give_clear_errors(tmp_path):
    path, data = make_via_export(str(tmp_path))
    text = open(path).read()
    (tmp_path / "cut.json").write_text(text[:200])
    with pytest.raises(AnnotationError, match=r"cut\.json: invalid JSON at line 1 column"):
        load_via_json(str(tmp_path / "cut.json"))
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(AnnotationError, match="entry 'images' has no 'filename'"):
        load_via_json(str(tmp_path / "coco.json"))
    broken = json.loads(text)
    broken["a.jpg12345"]["regions"]["0"]["shape_attributes"]["all_points_y"].pop()
    (tmp_path / "odd.json").write_text(json.dumps(broken))
    with pytest.raises(AnnotationError, match=r"a\.jpg region 0 \(polygon\) has 24 x but 23 y"):
        load_via_json(str(tmp_path / "odd.json"))
    ellipse = json.loads(text)
    region = next(r for r in ellipse["a.jpg12345"]["regions"].values()
                  if r["shape_attributes"]["name"] == "ellipse")
    region["shape_attributes"]["theta"] = {"rad": 1}
    (tmp_path / "theta.json").write_text(json.dumps(ellipse))
    with pytest.raises(AnnotationError, match=r"theta\.json: .* has theta \{'rad': 1\}; "
                                              r"expected a number"):
        load_via_json(str(tmp_path / "theta.json"))
    os.remove(tmp_path / "b.png")
    with pytest.raises(FileNotFoundError, match=r"1 image file\(s\) not found: .*b\.png"):
        _load(path)
    dataset = _load(path, check_images=False)
    with pytest.raises(FileNotFoundError, match=r"image 1: cannot read .*b\.png"):
        dataset.load_mask(1)


def test_via2_option_ids_become_the_labels_via_shows(tmp_path):
    """A VIA 2 project whose class attribute is a radio/dropdown/checkbox
    stores option ids ("10", "11"); the classes are the option labels of
    _via_attributes, the id only where an option has no label."""
    write_image(str(tmp_path / "k.png"), 40, 50)
    square = {"name": "rect", "x": 5, "y": 5, "width": 10, "height": 10}
    regions = [{"shape_attributes": square, "region_attributes": {"number": "10",
                                                                  "kind": "a"}},
               {"shape_attributes": square, "region_attributes": {"number": "11",
                                                                  "kind": "b"}},
               {"shape_attributes": square, "region_attributes": {"number": "12",
                                                                  "kind": "a"}},
               {"shape_attributes": square, "region_attributes": {"number": {"11": True,
                                                                             "10": False},
                                                                  "kind": {"b": True}}}]
    project = {
        "_via_settings": {}, "_via_data_format_version": "2.0.10",
        "_via_img_metadata": {"k.png200": {"filename": "k.png", "size": 200,
                                           "regions": regions, "file_attributes": {}}},
        "_via_attributes": {"file": {}, "region": {
            "number": {"type": "radio", "description": "", "default_options": {},
                       "options": {"10": "OVER", "11": "UNDER", "12": ""}},
            "kind": {"type": "checkbox", "description": "",
                     "options": {"a": "Apple", "b": "Banana"}, "default_options": {}},
        }}}
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    dataset = _load(str(path), class_attribute="number")
    assert dataset.class_names == ["BG", "12", "OVER", "UNDER"]
    assert list(dataset.load_mask(0)[1]) == [2, 3, 1, 3]
    # A dropdown behaves the same; the checkbox attribute too.
    project["_via_attributes"]["region"]["number"]["type"] = "dropdown"
    path.write_text(json.dumps(project))
    assert _load(str(path), class_attribute="number").class_names == ["BG", "12", "OVER",
                                                                     "UNDER"]
    assert _load(str(path), class_attribute="kind").class_names == ["BG", "Apple", "Banana"]
    # class_names are labels as well.
    fixed = _load(str(path), class_attribute="number", class_names=["UNDER", "OVER", "12"])
    assert list(fixed.load_mask(0)[1]) == [2, 1, 3, 1]
    # Odd attribute definitions are no definitions.
    project["_via_attributes"] = {"region": ["number"]}
    path.write_text(json.dumps(project))
    assert _load(str(path), class_attribute="number").class_names == ["BG", "10", "11", "12"]
    # A VIA 1 export has no attribute definitions: the values stay.
    (tmp_path / "v1.json").write_text(json.dumps(project["_via_img_metadata"]))
    assert _load(str(tmp_path / "v1.json"), class_attribute="number").class_names == [
        "BG", "10", "11", "12"]


def make_via3_project(root):
    """A VIA 3.1 image project as its 'Save' writes it: two images (one
    found through its location prefix and src), a video, an image pair view,
    every spatial shape id, file-level metadata and attribute definitions."""
    os.makedirs(os.path.join(root, "photos"))
    write_image(os.path.join(root, "a.png"), 100, 120)
    write_image(os.path.join(root, "photos", "b.jpg"), 64, 80, seed=1)
    metadata = {
        "1_aaaa": {"vid": "1", "flg": 0, "z": [], "xy": [2, 10.5, 12.25, 30, 20],
                   "av": {"1": "0"}},
        "1_bbbb": {"vid": "1", "flg": 0, "z": [], "xy": [7, 50, 10, 90, 15, 80, 50, 55, 40],
                   "av": {"1": "1", "2": "big one"}},
        "1_cccc": {"vid": "1", "flg": 0, "z": [], "xy": [3, 30, 60, 12.5], "av": {"1": "2"}},
        "1_dddd": {"vid": "1", "flg": 0, "z": [], "xy": [4, 70, 65, 15, 8], "av": {"1": "0"}},
        # left, top, right and bottom extreme points of an object
        "1_eeee": {"vid": "1", "flg": 0, "z": [], "xy": [8, 5, 80, 20, 72, 35, 81, 20, 95],
                   "av": {"1": "1"}},
        # three points on a circle of centre (100, 60) and radius 10
        "1_ffff": {"vid": "1", "flg": 0, "z": [], "xy": [9, 100, 50, 110, 60, 100, 70],
                   "av": {"1": "0"}},
        "1_gggg": {"vid": "1", "flg": 0, "z": [], "xy": [1, 5, 5], "av": {"1": "0"}},
        "1_hhhh": {"vid": "1", "flg": 0, "z": [], "xy": [6, 1, 1, 9, 9, 20, 3],
                   "av": {"1": "0"}},
        "1_file": {"vid": "1", "flg": 0, "z": [], "xy": [], "av": {"2": "a file caption"}},
        "2_aaaa": {"vid": "2", "flg": 0, "z": [], "xy": [7, 10, 10, 50, 12, 30, 50],
                   "av": {"1": "1"}},
        "3_aaaa": {"vid": "3", "flg": 0, "z": [1.5], "xy": [2, 1, 1, 5, 5], "av": {"1": "0"}},
        "4_aaaa": {"vid": "4", "flg": 0, "z": [], "xy": [2, 1, 1, 5, 5], "av": {"1": "0"}},
    }
    project = {
        "project": {"pid": "__VIA_PROJECT_ID__", "rev": "__VIA_PROJECT_REV_ID__",
                    "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__",
                    "pname": "Unnamed VIA Project", "data_format_version": "3.1.1",
                    "creator": "VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)",
                    "created": 1600000000000, "vid_list": ["1", "2", "3", "4"]},
        "config": {"file": {"loc_prefix": {"1": "", "2": "",
                                           "3": os.path.join(root, "photos") + os.sep,
                                           "4": ""}},
                   "ui": {"file_content_align": "center", "file_metadata_editor_visible": True,
                          "spatial_metadata_editor_visible": True,
                          "spatial_region_label_attribute_id": ""}},
        "attribute": {
            "1": {"aname": "object", "anchor_id": "FILE1_Z0_XY1", "type": 4, "desc": "",
                  "options": {"0": "cat", "1": "dog", "2": ""}, "default_option_id": ""},
            "2": {"aname": "note", "anchor_id": "FILE1_Z0_XY0", "type": 1, "desc": "",
                  "options": {}, "default_option_id": ""},
        },
        "file": {"1": {"fid": "1", "fname": "a.png", "type": 2, "loc": 1, "src": ""},
                 "2": {"fid": "2", "fname": "b.jpg", "type": 2, "loc": 3, "src": "b.jpg"},
                 "3": {"fid": "3", "fname": "clip.mp4", "type": 4, "loc": 1, "src": ""}},
        "view": {"1": {"fid_list": ["1"]}, "2": {"fid_list": ["2"]}, "3": {"fid_list": ["3"]},
                 "4": {"fid_list": ["1", "2"]}},
        "metadata": metadata,
    }
    path = os.path.join(root, "via_project.json")
    with open(path, "w") as f:
        json.dump(project, f)
    return path, project


def test_via3_projects_load_their_spatial_regions(tmp_path):
    path, project = make_via3_project(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_via_json(path, class_attribute="object")
    text = "\n".join(str(w.message) for w in caught)
    assert "1 point regions (no area) skipped (first: a.png region 1_gggg)" in text
    assert "1 polyline regions (no area) skipped (first: a.png region 1_hhhh)" in text
    assert "2 regions of video, audio or multi-file views skipped" in text
    assert [info["id"] for info in dataset.image_info] == ["a.png", "b.jpg"]
    assert dataset.image_reference(1) == os.path.join(str(tmp_path), "photos", "b.jpg")
    # Option ids of the dropdown become its labels; "2" has no label.
    assert dataset.class_names == ["BG", "2", "cat", "dog"]

    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (100, 120, 6) and list(class_ids) == [2, 3, 1, 2, 3, 2]
    np.testing.assert_array_equal(masks[..., 0], coco_polygon(
        [10.5, 40.5, 40.5, 10.5], [12.25, 12.25, 32.25, 32.25], 100, 120))
    np.testing.assert_array_equal(masks[..., 1], coco_polygon([50, 90, 80, 55],
                                                              [10, 15, 50, 40], 100, 120))
    np.testing.assert_array_equal(masks[..., 2], skimage_ellipse(30, 60, 12.5, 12.5, 100, 120))
    np.testing.assert_array_equal(masks[..., 3], skimage_ellipse(70, 65, 15, 8, 100, 120))
    box = np.zeros((100, 120), bool)
    box[72:95, 5:35] = True
    np.testing.assert_array_equal(masks[..., 4], box)
    np.testing.assert_array_equal(masks[..., 5], skimage_ellipse(100, 60, 10, 10, 100, 120))
    masks, class_ids = dataset.load_mask(1)
    assert masks.shape == (64, 80, 1) and list(class_ids) == [3]
    np.testing.assert_array_equal(masks[..., 0], coco_polygon([10, 50, 30], [10, 12, 50],
                                                              64, 80))
    assert dataset.load_image(1).shape == (64, 80, 3)
    # One class, and the text attribute by its name.
    assert _load(path).class_names == ["BG", "object"]
    with pytest.raises(AnnotationError, match=r"a\.png region 1_aaaa has no class in region "
                                              r"attribute 'note'"):
        _load(path, class_attribute="note")


def test_via3_checkbox_and_bad_projects(tmp_path):
    path, project = make_via3_project(str(tmp_path))
    project["attribute"]["1"]["type"] = 2  # checkbox: "id,id" strings
    project["metadata"]["1_bbbb"]["av"]["1"] = "0,1"
    with open(path, "w") as f:
        json.dump(project, f)
    with pytest.raises(AnnotationError, match=r"a\.png region 1_bbbb has 2 options ticked in "
                                              r"region attribute 'object' \(\['0', '1'\]\)"):
        _load(path, class_attribute="object")
    project["metadata"]["1_bbbb"]["av"]["1"] = "1"
    with open(path, "w") as f:
        json.dump(project, f)
    assert _load(path, class_attribute="object").class_names == ["BG", "2", "cat", "dog"]

    def write(change):
        broken = json.loads(json.dumps(project))
        change(broken)
        with open(path, "w") as f:
            json.dump(broken, f)
        return path

    with pytest.raises(AnnotationError, match=r"a\.png region 1_cccc \(polygon\) has 5 "
                                              r"coordinates; expected x, y pairs"):
        _load(write(lambda p: p["metadata"]["1_cccc"].update(xy=[7, 50, 10, 90, 15, 80])))
    with pytest.raises(AnnotationError, match=r"a\.png region 1_aaaa has xy \[2, 'x'"):
        _load(write(lambda p: p["metadata"]["1_aaaa"].update(xy=[2, "x", 1, 2, 3])))
    with pytest.raises(AnnotationError, match=r"a\.png region 1_aaaa \(rectangle\) has 3 "
                                              r"coordinates; expected 4"):
        _load(write(lambda p: p["metadata"]["1_aaaa"].update(xy=[2, 1, 2, 3])))
    with pytest.raises(AnnotationError, match=r"metadata '1_aaaa' belongs to view '9'"):
        _load(write(lambda p: p["metadata"]["1_aaaa"].update(vid="9")))
    with pytest.raises(AnnotationError, match=r"VIA 3 project without image files"):
        _load(write(lambda p: [p["file"][k].update(type=4) for k in p["file"]]))
    only = tmp_path / "only.json"
    only.write_text(json.dumps({"project": project["project"]}))
    with pytest.raises(AnnotationError, match=r"looks like a VIA 3 project"):
        _load(str(only))
