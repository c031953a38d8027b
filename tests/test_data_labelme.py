"""mrcnn.data.labelme: LabelMe JSON files.

References: polygons and rectangles rendered with pycocotools from the
file's points (the package's rasterisation convention, pixel (r, c) covering
[c, c+1) x [r, r+1)), circles with skimage.draw.ellipse shifted by half a
pixel, masks decoded here with PIL.
"""
import base64
import io
import json
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.coco import AnnotationError
from mrcnn.data.labelme import LabelMeDataset, load_labelme_folder


def coco_polygon(points, height, width):
    from pycocotools import mask as mask_util
    flat = np.asarray(points, float).ravel().tolist()
    return mask_util.decode(mask_util.merge(
        mask_util.frPyObjects([flat], height, width))).astype(bool)


def skimage_circle(cx, cy, r, height, width):
    import skimage.draw
    out = np.zeros((height, width), bool)
    rr, cc = skimage.draw.ellipse(cy - 0.5, cx - 0.5, r, r, shape=(height, width))
    out[rr, cc] = True
    return out


def png_base64(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def shape(label, points, shape_type="polygon", group_id=None, **extra):
    return dict({"label": label, "points": points, "group_id": group_id,
                 "shape_type": shape_type, "flags": {}}, **extra)


def make_labelme_folder(root):
    """annotated/a.json (+ a.png), annotated/b.json pointing at ../photos/b.jpg,
    annotated/c.json with an embedded image and no file."""
    folder = os.path.join(root, "annotated")
    os.makedirs(folder)
    os.makedirs(os.path.join(root, "photos"))
    rng = np.random.RandomState(1)
    Image.fromarray(rng.randint(0, 255, (80, 100, 3)).astype(np.uint8)).save(
        os.path.join(folder, "a.png"))
    Image.fromarray(rng.randint(0, 255, (64, 64, 3)).astype(np.uint8)).save(
        os.path.join(root, "photos", "b.jpg"))
    patch = np.zeros((10, 12), np.uint8)
    patch[2:8, 3:10] = 1
    a = {"version": "5.4.1", "flags": {}, "imagePath": "a.png", "imageData": None,
         "imageHeight": 80, "imageWidth": 100, "shapes": [
             shape("cat", [[10.5, 10.2], [40.7, 12.1], [30.3, 45.8], [8.1, 30.6]]),
             shape("dog", [[70, 50], [55, 20]], "rectangle"),
             shape("cat", [[80.3, 70.1], [80.3, 79.4]], "circle"),
             # one occluded dog in two parts
             shape("dog", [[5, 60], [25, 60], [25, 75], [5, 75]], group_id=1),
             shape("dog", [[35, 62], [50, 62], [42, 78]], group_id=1),
             shape("cat", [[1, 1], [5, 5]]),  # 2 points: skipped
             shape("cat", [[1, 1], [5, 5], [9, 2]], "linestrip"),  # no area: skipped
             shape("bird", [[90, -5], [110, 20], [85, 30]]),  # outside: clipped
             shape("bird", [[60, 2], [72, 12]], "mask", mask=png_base64(patch * 255)),
             shape("__ignore__", [[0, 0], [9, 0], [9, 9]]),
         ]}
    b = {"version": "4.5.6", "imagePath": "..\\photos\\b.jpg", "imageData": None,
         "imageHeight": 64, "imageWidth": 64,
         "shapes": [shape("dog", [[10, 10], [50, 12], [30, 50]], shape_type=None)]}
    embedded = np.zeros((30, 40, 3), np.uint8)
    embedded[..., 2] = 200
    c = {"version": "5.0.1", "imagePath": "gone.png", "imageData": png_base64(embedded),
         "imageHeight": 30, "imageWidth": 40, "shapes": []}
    for name, data in (("a", a), ("b", b), ("c", c)):
        with open(os.path.join(folder, name + ".json"), "w") as f:
            json.dump(data, f, indent=2)
    return folder, a, b, embedded


def _load(folder, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_labelme_folder(folder, **kwargs)


def test_masks_classes_and_groups_are_the_files(tmp_path):
    folder, a, b, embedded = make_labelme_folder(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_labelme_folder(folder, ignore_labels=["__ignore__"])
    text = "\n".join(str(w.message) for w in caught)
    assert "1 polygons with fewer than 3 points skipped (first: a.json shape 5 ('cat'))" in text
    assert "1 linestrip shapes (no area) skipped" in text
    assert "1 shapes reaching outside the image clipped (first: a.json shape 7 ('bird'))" \
        in text
    assert dataset.class_names == ["BG", "bird", "cat", "dog"]
    assert [info["id"] for info in dataset.image_info] == ["a", "b", "c"]

    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (80, 100, 6) and masks.dtype == bool
    assert list(class_ids) == [2, 3, 2, 3, 1, 1]
    s = a["shapes"]
    np.testing.assert_array_equal(masks[..., 0], coco_polygon(s[0]["points"], 80, 100))
    rect = np.zeros((80, 100), bool)
    rect[20:50, 55:70] = True
    np.testing.assert_array_equal(masks[..., 1], rect)
    np.testing.assert_array_equal(masks[..., 2], skimage_circle(80.3, 70.1, 9.3, 80, 100))
    np.testing.assert_array_equal(masks[..., 3], coco_polygon(s[3]["points"], 80, 100) |
                                  coco_polygon(s[4]["points"], 80, 100))
    np.testing.assert_array_equal(masks[..., 4], coco_polygon(s[7]["points"], 80, 100))
    patch = np.zeros((80, 100), bool)
    patch[4:10, 63:70] = True
    np.testing.assert_array_equal(masks[..., 5], patch)

    masks, class_ids = dataset.load_mask(1)
    np.testing.assert_array_equal(masks[..., 0], coco_polygon(b["shapes"][0]["points"], 64, 64))
    assert dataset.load_image(1).shape == (64, 64, 3)
    assert dataset.image_reference(1) == os.path.join(str(tmp_path), "photos", "b.jpg")
    # The embedded image of c.json stands in for its missing file.
    np.testing.assert_array_equal(dataset.load_image(2), embedded)
    assert dataset.load_mask(2)[0].shape == (30, 40, 0)
    assert dataset.image_reference(2).endswith("c.json")


def test_class_names_skip_empty_and_file_lists(tmp_path):
    folder, *_ = make_labelme_folder(str(tmp_path))
    dataset = _load(folder, class_names=["dog", "cat", "bird"], ignore_labels=["__ignore__"],
                    skip_empty=True)
    assert dataset.class_names == ["BG", "dog", "cat", "bird"] and dataset.num_images == 2
    assert list(dataset.load_mask(0)[1]) == [2, 1, 2, 1, 3, 3]
    with pytest.raises(AnnotationError, match=r"a\.json: shape 9 \('__ignore__'\) has label "
                                              r"'__ignore__', which is not in class_names"):
        _load(folder, class_names=["dog", "cat", "bird"])
    only_b = _load([os.path.join(folder, "b.json")])
    assert only_b.num_images == 1 and only_b.class_names == ["BG", "dog"]


def test_bad_files_give_clear_errors(tmp_path):
    folder, a, b, _ = make_labelme_folder(str(tmp_path))
    text = open(os.path.join(folder, "a.json")).read()
    with open(os.path.join(folder, "a.json"), "w") as f:
        f.write(text[:300])
    with pytest.raises(AnnotationError, match=r"a\.json: invalid JSON at line \d+ column \d+"):
        load_labelme_folder(folder)
    with open(os.path.join(folder, "a.json"), "w") as f:
        f.write(text)
    bad = json.loads(text)
    bad["shapes"][1]["points"] = [[70, 50]]
    with open(os.path.join(folder, "a.json"), "w") as f:
        json.dump(bad, f)
    with pytest.raises(AnnotationError, match=r"a\.json: shape 1 \('dog'\) is a rectangle with "
                                              r"1 points"):
        _load(folder)
    bad["shapes"][1]["points"] = [[70, "x"], [1, 2]]
    with open(os.path.join(folder, "a.json"), "w") as f:
        json.dump(bad, f)
    with pytest.raises(AnnotationError, match=r"shape 1 \('dog'\) has points"):
        _load(folder)
    with open(os.path.join(folder, "a.json"), "w") as f:
        f.write(text)
    os.remove(os.path.join(str(tmp_path), "photos", "b.jpg"))
    with pytest.raises(FileNotFoundError, match=r"1 image file\(s\) not found .*b\.jpg"):
        _load(folder)
    dataset = _load(folder, check_images=False)
    with pytest.raises(FileNotFoundError, match=r"image 1: file not found: .*b\.jpg"):
        dataset.load_image(1)
    # An image of another size than imageHeight/imageWidth.
    Image.fromarray(np.zeros((60, 100, 3), np.uint8)).save(os.path.join(folder, "a.png"))
    with pytest.raises(AnnotationError, match=r"image 0 \(.*a\.png\): the image is 60x100 "
                                              r"pixels but .*a\.json says 80x100"):
        dataset.load_image(0)
    with pytest.raises(FileNotFoundError, match="no .json files"):
        LabelMeDataset().load_labelme(str(tmp_path / "photos"))


def jpeg_base64(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_tutorial_file_naming_itself_uses_the_embedded_image(tmp_path):
    """LabelMe's examples/tutorial/apc2016_obj3.json: an old (3.x) file whose
    imagePath is the JSON itself, the JPEG in imageData, no
    imageHeight/imageWidth and shapes without shape_type/group_id."""
    rng = np.random.RandomState(3)
    pixels = rng.randint(0, 255, (48, 64, 3)).astype(np.uint8)
    encoded = jpeg_base64(pixels)
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
        decoded = np.array(image.convert("RGB"))
    points = [[7.9, 4.8], [17.9, 40.8], [58.9, 42.8], [60.9, 6.8]]
    data = {"shapes": [{"label": "shelf", "line_color": None, "fill_color": None,
                        "points": points}],
            "lineColor": [0, 255, 0, 128], "fillColor": [255, 0, 0, 128],
            "imagePath": "apc2016_obj3.json", "imageData": encoded}
    (tmp_path / "apc2016_obj3.json").write_text(json.dumps(data))
    dataset = _load(str(tmp_path))
    assert dataset.class_names == ["BG", "shelf"]
    np.testing.assert_array_equal(dataset.load_image(0), decoded)
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (48, 64, 1) and list(class_ids) == [1]
    np.testing.assert_array_equal(masks[..., 0], coco_polygon(points, 48, 64))
    assert dataset.image_reference(0).endswith("apc2016_obj3.json")
    # The same file without imageData: nothing to read the image from.
    del data["imageData"]
    (tmp_path / "apc2016_obj3.json").write_text(json.dumps(data))
    dataset = _load(str(tmp_path), check_images=False)
    with pytest.raises(ValueError, match=r"image 0: cannot read .*apc2016_obj3\.json"):
        dataset.load_image(0)


def test_cli_ignore_labels(tmp_path, capsys):
    """`mrcnn train/evaluate --format labelme --ignore-labels`: the labels
    are dropped as by load_labelme_folder(ignore_labels=...)."""
    from mrcnn.cli import UsageError, build_parser, load_dataset, main
    folder, *_ = make_labelme_folder(str(tmp_path))
    args = build_parser().parse_args(["train", "--format", "labelme", "--train", folder,
                                      "--epochs", "1", "--ignore-labels",
                                      "__ignore__, _background_"])
    assert args.ignore_labels == ["__ignore__", "_background_"]
    assert build_parser().parse_args(["evaluate", "--model", "m", "--format", "labelme",
                                      "--dataset", folder, "--ignore-labels", "__ignore__"]
                                     ).ignore_labels == ["__ignore__"]
    with pytest.warns(UserWarning):
        kept = load_dataset("labelme", folder)
        dropped = load_dataset("labelme", folder, ignore_labels=args.ignore_labels)
    assert kept.class_names == ["BG", "__ignore__", "bird", "cat", "dog"]
    assert dropped.class_names == ["BG", "bird", "cat", "dog"]
    with pytest.raises(UsageError, match="--ignore-labels is for --format labelme"):
        load_dataset("shapes", "2", ignore_labels=["x"])
    # Through `mrcnn train`: the class list it reports (NUM_CLASSES mismatch,
    # stops before building a model) has no __ignore__.
    with pytest.warns(UserWarning):
        assert main(["train", "--format", "labelme", "--train", folder, "--epochs", "1",
                     "--ignore-labels", "__ignore__", "--set", "NUM_CLASSES=2",
                     "--logs", str(tmp_path / "logs")]) == 1
    assert "training data has 4 classes (with BG): BG, bird, cat, dog" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--format", "labelme", "--train", folder,
                                   "--epochs", "1", "--ignore-labels", ","])


@pytest.mark.parametrize("field, value, message", [
    ("imagePath", 3, r"a\.json: imagePath is 3; expected a file name"),
    ("imageWidth", True, r"a\.json: imageHeight/imageWidth are 80/True"),
    ("group_id", [1], r"a\.json: shape 3 \('dog'\) has group_id \[1\]; expected an integer"),
    # Masks of that size could not be allocated: PIL's bomb limit, named.
    ("imageHeight", 10 ** 9, r"a\.json: imageHeight/imageWidth say the image is 100 x "
                             r"1000000000 pixels .*decompression-bomb limit"),
])
def test_fields_of_the_wrong_type_are_named(tmp_path, field, value, message):
    folder, a, *_ = make_labelme_folder(str(tmp_path))
    if field == "group_id":
        a["shapes"][3]["group_id"] = value
    else:
        a[field] = value
    with open(os.path.join(folder, "a.json"), "w") as f:
        json.dump(a, f)
    with pytest.raises(AnnotationError, match=message):
        _load(folder)
