"""mrcnn.utils.Dataset (mrcnn/data/dataset.py); the shapes dataset is in
test_data_shapes.py."""
import numpy as np
import pytest
from PIL import Image

from mrcnn import utils


def make_two_source_dataset():
    d = utils.Dataset()
    d.add_class("coco", 1, "person")
    d.add_class("coco", 3, "car, automobile")
    d.add_class("balloon", 1, "balloon")
    d.add_class("coco", 1, "duplicate ignored")
    d.add_image("coco", image_id=42, path="a.jpg", width=10)
    d.add_image("balloon", image_id="x7", path="b.jpg")
    d.prepare()
    return d


def test_prepare_builds_ids_and_maps():
    d = make_two_source_dataset()
    assert d.num_classes == 4 and d.class_names == ["BG", "person", "car", "balloon"]
    np.testing.assert_array_equal(d.class_ids, [0, 1, 2, 3])
    np.testing.assert_array_equal(d.image_ids, [0, 1])
    assert d.num_images == 2
    assert d.map_source_class_id("coco.3") == 2
    assert d.map_source_class_id("balloon.1") == 3
    assert d.get_source_class_id(2, "coco") == 3
    assert sorted(d.source_class_ids["coco"]) == [0, 1, 2]
    assert d.source_class_ids["balloon"] == [0, 3]
    assert d.image_from_source_map == {"coco.42": 0, "balloon.x7": 1}
    assert d.image_info[0]["width"] == 10
    assert d.source_image_link(1) == "b.jpg"
    assert d.image_reference(0) == ""


def test_dataset_errors():
    d = make_two_source_dataset()
    with pytest.raises(ValueError, match="dot"):
        d.add_class("my.source", 1, "x")
    with pytest.raises(KeyError, match="coco.99"):
        d.map_source_class_id("coco.99")
    with pytest.raises(ValueError, match="balloon"):
        d.get_source_class_id(1, "balloon")
    fresh = utils.Dataset()
    with pytest.raises(AttributeError, match="prepare"):
        fresh.class_names
    with pytest.raises(IndexError, match="image id 5"):
        d.load_image(5)


def test_load_image_converts_gray_and_rgba(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 10
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 7
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(rgba).save(tmp_path / "c.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    d = utils.Dataset()
    for name in ("g.png", "c.png", "missing.png", "bad.png"):
        d.add_image("files", image_id=name, path=str(tmp_path / name))
    d.prepare()
    image = d.load_image(0)
    assert image.shape == (3, 4, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 1], gray)
    image = d.load_image(1)
    assert image.shape == (3, 4, 3) and (image[..., 0] == 255).all()
    with pytest.raises(FileNotFoundError, match="image 2.*missing.png"):
        d.load_image(2)
    with pytest.raises(ValueError, match="image 3.*bad.png"):
        d.load_image(3)


def test_default_load_mask_is_empty():
    masks, class_ids = make_two_source_dataset().load_mask(0)
    assert masks.shape == (0, 0, 0) and class_ids.shape == (0,)


def test_load_image_scales_16_bit_and_names_bad_files(tmp_path):
    Image.fromarray(np.full((4, 5), 4000, np.uint16)).save(tmp_path / "deep.png")
    np.save(tmp_path / "nan.npy", np.full((4, 5, 3), np.nan, np.float32))
    np.save(tmp_path / "empty.npy", np.zeros((0, 5, 3), np.uint8))
    d = utils.Dataset()
    for name in ("deep.png", "nan.npy", "empty.npy"):
        d.add_image("files", image_id=name, path=str(tmp_path / name))
    d.prepare()
    image = d.load_image(0)
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8 and (image == 4000 // 257).all()
    with pytest.raises(ValueError, match="image 1.*nan.npy.*NaN"):
        d.load_image(1)
    with pytest.raises(ValueError, match="image 2.*empty.npy.*empty"):
        d.load_image(2)


def test_load_image_channels_and_exif(tmp_path):
    rgb = np.zeros((6, 4, 3), np.uint8)
    rgb[0, 0] = (200, 100, 50)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(tmp_path / "photo.png", exif=exif)
    np.save(tmp_path / "four.npy", np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 4, 4))
    d = utils.Dataset(image_channels=1)
    d.add_image("files", image_id="photo", path=str(tmp_path / "photo.png"))
    d.add_image("files", image_id="four", path=str(tmp_path / "four.npy"))
    d.prepare()
    gray = d.load_image(0)
    assert gray.shape == (6, 4, 1) and gray[0, 0, 0] == round(0.299 * 200 + 0.587 * 100 + 5.7)
    d.image_channels = 4
    np.testing.assert_array_equal(d.load_image(1), np.load(tmp_path / "four.npy"))
    with pytest.raises(ValueError, match="image 0.*photo.png.*3 channels.*takes 4"):
        d.load_image(0)
    # EXIF orientation: ignored by default (matterport), applied when asked.
    d.image_channels = 3
    np.testing.assert_array_equal(d.load_image(0), rgb)
    d.exif_transpose = True
    rotated = d.load_image(0)
    assert rotated.shape == (4, 6, 3) and tuple(rotated[0, -1]) == (200, 100, 50)
    assert utils.Dataset().image_channels == 3 and not utils.Dataset().exif_transpose
    with pytest.raises(ValueError, match="image_channels"):
        utils.Dataset(image_channels=0)
