"""mrcnn/pretrained.py: the COCO model's config and class names, where its
weight file lives, and the samples' --weights/--model values ("coco",
"last", "imagenet", a path). Nothing is downloaded: the COCO "file" is a
small weight file written here. The download itself is tested in
test_download.py."""

import os

import h5py
import numpy as np
import pytest

from mrcnn import pretrained
from mrcnn import weights as weight_io
from mrcnn.config import Config
from mrcnn.model import MaskRCNN


class Tiny(Config):
    NAME = "tiny"
    NUM_CLASSES = 1 + 4
    BACKBONE = "resnet18"
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TOP_DOWN_PYRAMID_SIZE = 16
    FPN_CLASSIF_FC_LAYERS_SIZE = 32
    PRE_NMS_LIMIT = 200
    POST_NMS_ROIS_INFERENCE = 16
    DETECTION_MAX_INSTANCES = 4


def tiny(num_classes):
    return type("Tiny%d" % num_classes, (Tiny,), {"NUM_CLASSES": num_classes})()


def test_coco_class_names():
    names = pretrained.COCO_CLASS_NAMES
    assert len(names) == pretrained.CocoInferenceConfig.NUM_CLASSES == 81
    assert len(set(names)) == 81
    # matterport's demo list: BG first, then the 80 categories by COCO id.
    assert names[:4] == ["BG", "person", "bicycle", "car"]
    assert names[-1] == "toothbrush"
    assert names.index("dining table") == 61 and names.index("tv") == 63


def test_coco_inference_config():
    config = pretrained.CocoInferenceConfig()
    assert config.NAME == "coco" and config.NUM_CLASSES == 81
    assert config.BACKBONE == "resnet101" and config.BATCH_SIZE == 1
    assert tuple(config.IMAGE_SHAPE) == (1024, 1024, 3)


def test_cache_dir_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MRCNN_HOME", str(tmp_path / "home"))
    assert pretrained.cache_dir() == str(tmp_path / "home")
    monkeypatch.delenv("MRCNN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert pretrained.cache_dir() == os.path.join(str(tmp_path / "user"), ".cache", "mrcnn")
    # A given path that exists is returned as it is, without download.
    given = tmp_path / "mine.h5"
    given.write_bytes(b"anything")
    assert pretrained.coco_weights_path(str(given)) == str(given)
    # Missing, no download: the error names the path and how to get the file.
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match=r"nope\.h5 not found: run `mrcnn download-"
                                                r"weights coco`"):
        pretrained.coco_weights_path(missing)
    assert not os.path.exists(missing)


def test_check_weight_file(tmp_path):
    legacy = tmp_path / "legacy.h5"
    with h5py.File(legacy, "w") as f:
        f.attrs["layer_names"] = [b"conv1"]
    full_model = tmp_path / "full.h5"
    with h5py.File(full_model, "w") as f:
        f.create_group("model_weights")
    for path in (legacy, full_model):
        pretrained.check_weight_file(str(path))
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("something_else")
    with pytest.raises(ValueError, match="HDF5 file without Keras layer weights"):
        pretrained.check_weight_file(str(empty))
    html = tmp_path / "page.h5"
    html.write_text("<html>rate limited</html>")
    with pytest.raises(ValueError, match="not an HDF5 weight file"):
        pretrained.check_weight_file(str(html))


def test_check_coco_weights_reads_the_layout_as_the_weight_loader_does(tmp_path):
    """check_coco_weights and weights.read_weight_file open a file with one
    helper (weights.open_layer_group): the same errors, naming the file,
    and the same two layouts (root or model_weights); Keras is not loaded."""
    import subprocess
    import sys
    html = tmp_path / "page.h5"
    html.write_text("<html>rate limited</html>")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_group("model_weights")
    for path, message in ((html, "is not a readable HDF5 weight file"),
                          (plain, "is an HDF5 file without Keras layer weights")):
        for check in (pretrained.check_coco_weights, weight_io.read_weight_file):
            with pytest.raises(ValueError) as info:
                check(str(path))
            assert str(info.value).startswith(str(path) + " " + message), info.value
    # A whole-model file (layers under model_weights): its layers are read.
    nested = tmp_path / "nested.h5"
    with h5py.File(nested, "w") as f:
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"conv1"]
        g.create_group("conv1").attrs["weight_names"] = [b"conv1/kernel:0"]
        g["conv1"].create_dataset("conv1/kernel:0", data=np.zeros((7, 7, 3, 64), np.float32))
    assert [w for w, _ in weight_io.read_weight_file(str(nested))["conv1"]] == ["conv1/kernel:0"]
    with pytest.raises(ValueError, match=r"nested.h5 is not matterport's COCO weight file: "
                                         r"\d+ of its \d+ weighted layers are missing"):
        pretrained.check_coco_weights(str(nested))
    code = ("import sys, mrcnn.pretrained as p\n"
            "try:\n    p.check_coco_weights(sys.argv[1])\nexcept ValueError:\n    pass\n"
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(nested)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]", out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A 5-class model whose weights stand in for the COCO file, and a
    3-class model to load them into."""
    root = tmp_path_factory.mktemp("pretrained")
    source = MaskRCNN("inference", tiny(5), str(root / "logs5"))
    coco_file = str(root / "mask_rcnn_coco.h5")
    weight_io.save_weights(source.keras_model, coco_file)
    target = MaskRCNN("inference", tiny(3), str(root / "logs3"))
    return source, target, coco_file


def test_class_specific_layers_are_those_that_depend_on_num_classes(models):
    source, target, _ = models
    five = {l.name: [tuple(w.shape) for w in l.weights]
            for l in source.keras_model.layers if l.weights}
    three = {l.name: [tuple(w.shape) for w in l.weights]
             for l in target.keras_model.layers if l.weights}
    assert set(five) == set(three)
    differ = sorted(n for n in five if five[n] != three[n])
    assert differ and set(differ) <= set(pretrained.CLASS_SPECIFIC_LAYERS)
    assert set(pretrained.CLASS_SPECIFIC_LAYERS) - set(differ) <= {"mrcnn_bbox"}


def layer_values(model, name):
    return [w.numpy().copy() for w in model.keras_model.get_layer(name).weights]


def test_load_weights_for_coco_skips_the_class_specific_heads(models, capsys):
    source, target, coco_file = models
    before = layer_values(target, "mrcnn_class_logits")
    assert not np.allclose(layer_values(target, "conv1")[0], layer_values(source, "conv1")[0])
    assert pretrained.load_weights_for(target, "COCO", coco_path=coco_file) == coco_file
    assert "Loading weights  " + coco_file in capsys.readouterr().out
    for name in ("conv1", "fpn_c5p5", "mrcnn_mask_conv1"):
        for a, b in zip(layer_values(target, name), layer_values(source, name)):
            np.testing.assert_array_equal(a, b, err_msg=name)
    for a, b in zip(layer_values(target, "mrcnn_class_logits"), before):
        np.testing.assert_array_equal(a, b)
    # The same file named by its path is loaded whole: 5-class heads do not
    # fit a 3-class model, and the error names the layer.
    with pytest.raises(ValueError, match="mrcnn_"):
        pretrained.load_weights_for(target, coco_file)


def test_load_weights_for_coco_into_81_classes_keeps_every_layer(tmp_path, capsys):
    """NUM_CLASSES 81 (COCO's own): nothing is excluded, so the class heads
    come from the file too."""
    source = MaskRCNN("inference", tiny(81), str(tmp_path / "a"))
    path = str(tmp_path / "coco81.h5")
    weight_io.save_weights(source.keras_model, path)
    target = MaskRCNN("inference", tiny(81), str(tmp_path / "b"))
    pretrained.load_weights_for(target, "coco", coco_path=path)
    for a, b in zip(layer_values(target, "mrcnn_class_logits"),
                    layer_values(source, "mrcnn_class_logits")):
        np.testing.assert_array_equal(a, b)


def test_resolve_weights_names(models, tmp_path, monkeypatch):
    _, target, coco_file = models
    assert pretrained.resolve_weights(target, "coco", coco_path=coco_file) == coco_file
    assert pretrained.resolve_weights(target, "some/file.h5") == "some/file.h5"
    # "last": the newest checkpoint of the newest run in model_dir.
    target.model_dir = str(tmp_path)
    for run, epochs in (("tiny20240101T0000", (1,)), ("tiny20240301T0000", (1, 2))):
        os.makedirs(tmp_path / run)
        for e in epochs:
            (tmp_path / run / "mask_rcnn_tiny_{:04d}.h5".format(e)).write_bytes(b"")
    assert pretrained.resolve_weights(target, "last") == str(
        tmp_path / "tiny20240301T0000" / "mask_rcnn_tiny_0002.h5")
    # "imagenet": the model's own download helper (not called for real here).
    monkeypatch.setattr(target, "get_imagenet_weights", lambda: "/cache/resnet50_notop.h5")
    assert pretrained.resolve_weights(target, "ImageNet") == "/cache/resnet50_notop.h5"
