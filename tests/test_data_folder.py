"""mrcnn.data.folder: images with instance-label PNGs and a class map."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.coco import AnnotationError
from mrcnn.data.folder import ImageFolderDataset, load_image_folder, read_label_png


def make_folder(root):
    """images/ (PNG and JPEG) and masks/ with an 8-bit, a 16-bit and a
    palette label PNG, plus an empty one; returns (images, masks, labels)."""
    images, masks = os.path.join(root, "images"), os.path.join(root, "masks")
    os.makedirs(images)
    os.makedirs(masks)
    labels = {}
    a = np.zeros((48, 64), np.uint8)
    a[5:20, 5:30] = 1
    a[25:45, 10:20] = 2
    a[30:40, 40:60] = 7
    labels["a"] = a
    b = np.zeros((40, 50), np.uint16)
    b[2:10, 2:10] = 300
    b[20:35, 20:45] = 1000  # values above 255 need 16 bits
    labels["b"] = b
    c = np.zeros((32, 32), np.uint8)
    c[10:20, 10:20] = 3
    labels["c"] = c
    labels["d"] = np.zeros((16, 16), np.uint8)
    rng = np.random.RandomState(0)
    for stem, ext in (("a", ".png"), ("b", ".jpg"), ("c", ".png"), ("d", ".jpeg")):
        h, w = labels[stem].shape
        Image.fromarray(rng.randint(0, 255, (h, w, 3)).astype(np.uint8)).save(
            os.path.join(images, stem + ext))
    Image.fromarray(labels["a"]).save(os.path.join(masks, "a.png"))
    Image.fromarray(labels["b"]).save(os.path.join(masks, "b.png"))  # 16-bit PNG
    palette = Image.fromarray(labels["c"], mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
    palette.save(os.path.join(masks, "c.png"))
    Image.fromarray(labels["d"]).save(os.path.join(masks, "d.png"))
    return images, masks, labels


CLASS_MAP = {
    "classes": ["cat", "dog", "bird"],
    "instances": {"1": "cat", "2": "dog", "7": 3},
    "images": {"b": {"300": "bird", "1000": "dog"}},
    "default": "cat",
}


def test_masks_and_classes_are_the_label_images(tmp_path):
    images, masks, labels = make_folder(str(tmp_path))
    (tmp_path / "classes.json").write_text(json.dumps(CLASS_MAP))
    dataset = load_image_folder(images, masks, class_map=str(tmp_path / "classes.json"))
    assert dataset.class_names == ["BG", "cat", "dog", "bird"]
    assert [info["id"] for info in dataset.image_info] == ["a", "b", "c", "d"]
    assert read_label_png(os.path.join(masks, "b.png")).max() == 1000
    expected_classes = {"a": [1, 2, 3], "b": [3, 2], "c": [1], "d": []}
    for image_id, info in enumerate(dataset.image_info):
        label = labels[info["id"]]
        m, class_ids = dataset.load_mask(image_id)
        values = [v for v in np.unique(label) if v != 0]
        assert m.dtype == bool and m.shape == label.shape + (len(values),)
        for k, v in enumerate(values):
            np.testing.assert_array_equal(m[..., k], label == v)
        assert list(class_ids) == expected_classes[info["id"]]
        assert dataset.load_image(image_id).shape == label.shape + (3,)
    assert dataset.image_reference(1) == os.path.join(images, "b.jpg")


def test_without_a_class_map_and_skip_empty(tmp_path):
    images, masks, _ = make_folder(str(tmp_path))
    dataset = load_image_folder(images, masks, default_class="cell", skip_empty=True)
    assert dataset.class_names == ["BG", "cell"] and dataset.num_images == 3
    assert list(dataset.load_mask(0)[1]) == [1, 1, 1]
    # Without "classes" the names used are sorted.
    d = load_image_folder(images, masks, class_map={"instances": {"1": "z", "2": "a"},
                                                    "default": "m"})
    assert d.class_names == ["BG", "a", "m", "z"]
    assert list(d.load_mask(0)[1]) == [3, 1, 2]


def test_bad_input_gives_clear_errors(tmp_path):
    images, masks, labels = make_folder(str(tmp_path))
    strict = dict(CLASS_MAP)
    del strict["default"]
    dataset = load_image_folder(images, masks, class_map=strict)
    with pytest.raises(AnnotationError, match=r"image 2: mask .*c\.png has label value 3, "
                                              r"which the class map gives no class"):
        dataset.load_mask(2)
    with pytest.raises(AnnotationError, match=r"instances value 2 maps to 'horse'"):
        load_image_folder(images, masks, class_map={"classes": ["cat"],
                                                    "instances": {"2": "horse"}})
    (tmp_path / "broken.json").write_text('{"classes": ["cat",]}')
    with pytest.raises(AnnotationError, match=r"broken\.json: invalid JSON at line 1 column"):
        load_image_folder(images, masks, class_map=str(tmp_path / "broken.json"))
    # A mask of the wrong size names both files.
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(os.path.join(masks, "a.png"))
    with pytest.raises(AnnotationError, match=r"image 0 \(.*a\.png\): mask .*a\.png is 40x64 "
                                              r"but the image is 48x64"):
        dataset.load_mask(0)
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(os.path.join(masks, "a.png"))
    with pytest.raises(AnnotationError, match=r"a\.png: a RGB image; an instance-label mask "
                                              r"must have one channel"):
        dataset.load_mask(0)
    os.remove(os.path.join(masks, "c.png"))
    with pytest.raises(FileNotFoundError, match=r"1 mask\(s\) not found: .*c\.png"):
        load_image_folder(images, masks)
    Image.fromarray(labels["c"]).save(os.path.join(masks, "c.png"))
    Image.fromarray(labels["c"]).save(os.path.join(masks, "extra.png"))
    with pytest.warns(UserWarning, match=r"1 mask\(s\) without an image ignored"):
        load_image_folder(images, masks)
    with pytest.raises(FileNotFoundError, match="mask folder not found"):
        ImageFolderDataset().load_folder(images, str(tmp_path / "nope"))
