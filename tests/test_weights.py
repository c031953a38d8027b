"""Weight files: matterport's HDF5 layout, by-name loading, saving.

The layout tests compare our models with the layout of matterport's weight
files recorded in matterport_h5_layout_<backbone>.json (layer names,
weight names and shapes of every layer that holds weights), copied from the
project's shared reference data into tests/data/. The other tests write small files in matterport's
layout (both flavours seen in the wild) with h5py.
"""

import json
import os
import re

import h5py
import numpy as np
import pytest

from mrcnn import weights as weight_io
from mrcnn.config import Config
from mrcnn.model import CONFIG_FILE, WEIGHTS_FILE, MaskRCNN

REFERENCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# The layers whose shapes depend on NUM_CLASSES.
CLASS_SPECIFIC = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"]


def reference_layout(backbone):
    path = os.path.join(REFERENCE_DIR, "matterport_h5_layout_{}.json".format(backbone))
    with open(path) as f:
        return json.load(f)


def reference_weighted(layout):
    """{layer name: (weight names, shapes)} of the reference's weighted layers."""
    return {l["layer_name"]: (l["weight_names"], [tuple(s) for s in l["shapes"]])
            for l in layout["layers"] if l["weight_names"]}


class CocoLikeConfig(Config):
    NAME = "coco_like"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    NUM_CLASSES = 81
    IMAGE_MIN_DIM = 256
    IMAGE_MAX_DIM = 256


def coco_like(backbone):
    return type("Coco_" + backbone, (CocoLikeConfig,), {"BACKBONE": backbone})()


class TinyConfig(Config):
    NAME = "tiny"
    BACKBONE = "resnet50"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    NUM_CLASSES = 4
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_INFERENCE = 64
    POST_NMS_ROIS_TRAINING = 64
    TRAIN_ROIS_PER_IMAGE = 16
    DETECTION_MAX_INSTANCES = 10
    DETECTION_MIN_CONFIDENCE = 0.0
    # Lighter heads (the backbone stays ResNet-50): 256-d box head, 64
    # pyramid channels. The class-specific kernels are then [256, 4],
    # [256, 16] and [1, 1, 64, 4].
    FPN_CLASSIF_FC_LAYERS_SIZE = 256
    TOP_DOWN_PYRAMID_SIZE = 64


def build(config, mode, tmp_path):
    return MaskRCNN(mode=mode, config=config, model_dir=str(tmp_path))


def layer_shapes(keras_model):
    return {name: [tuple(v.shape) for v in variables]
            for name, variables in weight_io.weighted_layers(keras_model)}


def snapshot(keras_model):
    return {name: [v.numpy().copy() for v in variables]
            for name, variables in weight_io.weighted_layers(keras_model)}


def assert_same_weights(a, b, skip=()):
    assert a.keys() == b.keys()
    for name in a:
        if name in skip:
            continue
        assert len(a[name]) == len(b[name]), name
        for x, y in zip(a[name], b[name]):
            np.testing.assert_array_equal(x, y, err_msg=name)


# ----------------------------------------------------------------------
# Writing files in matterport's layout (independently of mrcnn.weights)
# ----------------------------------------------------------------------

RPN_WEIGHT_NAMES = ["{}/{}:0".format(conv, w)
                    for conv in ("rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred")
                    for w in ("kernel", "bias")]


def matterport_weight_names(layer_name):
    if layer_name == "rpn_model":
        return RPN_WEIGHT_NAMES
    if layer_name.startswith("bn") or "_bn" in layer_name:
        parts = ["gamma", "beta", "moving_mean", "moving_variance"]
    else:
        parts = ["kernel", "bias"]
    return ["{}/{}:0".format(layer_name, p) for p in parts]


def random_layers(keras_model, names, seed=0, overrides=None):
    """[(layer, [(weight name, array)])] of random arrays with the model's
    shapes (or those in overrides[layer])."""
    rng = np.random.default_rng(seed)
    shapes = layer_shapes(keras_model)
    overrides = overrides or {}
    out = []
    for name in names:
        layer_shapes_ = overrides.get(name, shapes[name])
        weight_names = matterport_weight_names(name)
        assert len(weight_names) == len(layer_shapes_), name
        out.append((name, [(w, rng.standard_normal(s).astype(np.float32))
                           for w, s in zip(weight_names, layer_shapes_)]))
    return out


def _str_attr(group, name, values, flavour):
    if flavour == "A":  # tf_keras / h5py 3: variable-length ASCII strings
        dtype = h5py.string_dtype("ascii")
        if isinstance(values, str):
            group.attrs.create(name, values, dtype=dtype)
        else:
            group.attrs.create(name, list(values), shape=(len(values),), dtype=dtype)
    else:  # Keras 2.1 / h5py 2: numpy fixed-length byte strings
        if isinstance(values, str):
            group.attrs[name] = np.bytes_(values.encode("ascii"))
        else:
            group.attrs[name] = np.array([v.encode("ascii") for v in values])
            assert group.attrs[name].dtype.kind == "S"


def write_matterport_file(path, layers, flavour="A", full_model=False):
    """Write `layers` ([(name, [(weight name, array)])], weightless layers
    with an empty list) the way matterport's Keras wrote weight files."""
    with h5py.File(path, "w") as f:
        group = f
        if full_model:  # model.save(): the weights live in 'model_weights'
            _str_attr(f, "keras_version", "2.1.3", flavour)
            _str_attr(f, "backend", "tensorflow", flavour)
            _str_attr(f, "model_config", json.dumps({"class_name": "Model"}), flavour)
            f.create_group("optimizer_weights")
            group = f.create_group("model_weights")
        _str_attr(group, "layer_names", [name for name, _ in layers], flavour)
        _str_attr(group, "backend", "tensorflow", flavour)
        _str_attr(group, "keras_version", "2.21.0" if flavour == "A" else "2.1.3", flavour)
        for name, weights in layers:
            g = group.create_group(name)
            if weights:
                _str_attr(g, "weight_names", [w for w, _ in weights], flavour)
            else:  # what h5py makes of an empty list
                g.attrs["weight_names"] = np.zeros((0,), np.float64)
            for weight_name, array in weights:
                g.create_dataset(weight_name, data=array)
        if flavour == "A":  # tf_keras extra: not listed in layer_names
            g = group.create_group("top_level_model_weights")
            g.attrs["weight_names"] = np.zeros((0,), np.float64)


SUBSET = ["conv1", "bn_conv1", "fpn_c5p5", "rpn_model", "mrcnn_class_conv1",
          "mrcnn_class_bn1", "mrcnn_class_logits", "mrcnn_mask_conv1", "mrcnn_mask"]


def weightless(flavour):
    """Names of weightless layers as each Keras generation numbered them."""
    if flavour == "A":
        return ["input_image", "zero_padding2d", "activation", "max_pooling2d", "lambda"]
    return ["input_image", "zero_padding2d_1", "activation_1", "max_pooling2d_1", "lambda_1"]


# ----------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def coco50_inference(module_tmp):
    return build(coco_like("resnet50"), "inference", module_tmp)


@pytest.fixture(scope="module")
def tiny_inference(module_tmp):
    """Read-only: a source of weights and outputs to compare with. Its
    classifier is set to prefer class 1 everywhere, so that detections come
    out whatever the random backbone does."""
    model = build(TinyConfig(), "inference", module_tmp)
    logits = model.keras_model.get_layer("mrcnn_class_logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([np.zeros_like(kernel), np.array([0.0, 1.0, 0.0, 0.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def _tiny_shared(module_tmp):
    model = build(TinyConfig(), "inference", module_tmp)
    return model, snapshot(model.keras_model)


@pytest.fixture
def tiny(_tiny_shared):
    """A model the test may load into; its initial weights are put back
    afterwards (building a model per test would be slow)."""
    model, initial = _tiny_shared
    yield model
    for name, variables in weight_io.weighted_layers(model.keras_model):
        for variable, value in zip(variables, initial[name]):
            variable.assign(value)


# ----------------------------------------------------------------------
# 1. Layout compatibility with matterport's weight files
# ----------------------------------------------------------------------

def check_layout(keras_model, backbone):
    ref = reference_weighted(reference_layout(backbone))
    ours = layer_shapes(keras_model)
    missing = sorted(set(ref) - set(ours))
    extra = sorted(set(ours) - set(ref))
    wrong = ["{}: ours {} reference {}".format(n, ours[n], ref[n][1])
             for n in sorted(set(ref) & set(ours)) if ours[n] != ref[n][1]]
    assert not missing, "layers of matterport's files missing from our model: {}".format(missing)
    assert not extra, "weighted layers not in matterport's files: {}".format(extra)
    assert not wrong, "shape mismatches: {}".format(wrong)
    layout = reference_layout(backbone)
    assert len(ours) == layout["num_layers_with_weights"]
    assert sum(len(s) for s in ours.values()) == layout["num_weight_arrays"]
    assert keras_model.count_params() == layout["total_parameters"]


def test_layout_resnet50_inference(coco50_inference):
    check_layout(coco50_inference.keras_model, "resnet50")


def test_layout_resnet50_training(tmp_path):
    model = build(coco_like("resnet50"), "training", tmp_path)
    check_layout(model.keras_model, "resnet50")


def test_layout_resnet101_inference(tmp_path):
    reference_layout("resnet101")
    model = build(coco_like("resnet101"), "inference", tmp_path)
    check_layout(model.keras_model, "resnet101")


def test_layout_resnet101_training(tmp_path):
    reference_layout("resnet101")
    model = build(coco_like("resnet101"), "training", tmp_path)
    check_layout(model.keras_model, "resnet101")


def test_saved_file_has_matterport_weight_names(coco50_inference, tmp_path):
    ref = reference_weighted(reference_layout("resnet50"))
    path = str(tmp_path / "coco.h5")
    weight_io.save_weights(coco50_inference.keras_model, path)
    model_layers = [layer.name for layer in coco50_inference.keras_model.layers]
    with h5py.File(path, "r") as f:
        layer_names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        assert layer_names == model_layers
        assert f.attrs["backend"] in (b"tensorflow", "tensorflow")
        assert "keras_version" in f.attrs
        for name in layer_names:
            g = f[name]
            weight_names = [w.decode() if isinstance(w, bytes) else w
                            for w in np.asarray(g.attrs["weight_names"]).reshape(-1)]
            if name not in ref:
                assert weight_names == [], name
                continue
            assert weight_names == ref[name][0], name
            for weight_name, shape in zip(*ref[name]):
                dataset = f[name + "/" + weight_name]
                assert dataset.shape == shape, (name, weight_name)
                assert dataset.dtype == np.float32, (name, weight_name)
        # Spot checks of the paths the reference notes spell out.
        assert f["conv1/conv1/kernel:0"].shape == (7, 7, 3, 64)
        assert f["rpn_model/rpn_conv_shared/kernel:0"].shape == (3, 3, 256, 512)
        assert f["mrcnn_mask_conv1/mrcnn_mask_conv1/kernel:0"].shape == (3, 3, 256, 256)
    assert set(ref) <= set(layer_names)


# ----------------------------------------------------------------------
# 2. Both flavours of matterport files load by name
# ----------------------------------------------------------------------

@pytest.mark.parametrize("flavour,full_model", [("A", False), ("B", False), ("A", True),
                                                ("B", True)])
def test_matterport_files_load_by_name(tiny, tmp_path, flavour, full_model):
    keras_model = tiny.keras_model
    layers = random_layers(keras_model, SUBSET, seed=1)
    names = weightless(flavour)
    # Weightless layers interleaved, plus a weighted layer our model lacks.
    file_layers = ([(names[0], []), (names[1], [])] + layers[:2] + [(names[2], [])]
                   + layers[2:] + [(n, []) for n in names[3:]]
                   + [("old_layer", [("old_layer/kernel:0", np.ones((2, 2), np.float32))])])
    path = str(tmp_path / "matterport_{}.h5".format(flavour))
    write_matterport_file(path, file_layers, flavour=flavour, full_model=full_model)
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if full_model else f
        expected_kind = "O" if flavour == "A" else "S"
        assert group.attrs["layer_names"].dtype.kind == expected_kind
        assert ("top_level_model_weights" in group) == (flavour == "A")

    before = snapshot(keras_model)
    loaded = tiny.load_weights(path, by_name=True)
    assert sorted(loaded) == sorted(SUBSET)
    after = snapshot(keras_model)
    for name, weights in layers:
        for (weight_name, array), value in zip(weights, after[name]):
            np.testing.assert_array_equal(value, array, err_msg=weight_name)
    assert_same_weights(before, after, skip=SUBSET)


def test_read_weight_file_accepts_both_string_storages(tiny_inference, tmp_path):
    layers = random_layers(tiny_inference.keras_model, ["conv1", "rpn_model"], seed=2)
    contents = {}
    for flavour in "AB":
        path = str(tmp_path / "{}.h5".format(flavour))
        write_matterport_file(path, [(weightless(flavour)[0], [])] + layers, flavour=flavour)
        contents[flavour] = weight_io.read_weight_file(path)
    for flavour in "AB":
        read = contents[flavour]
        assert read[weightless(flavour)[0]] == []
        assert "top_level_model_weights" not in read
        for name, weights in layers:
            assert [w for w, _ in read[name]] == [w for w, _ in weights]
            for (_, a), (_, b) in zip(read[name], weights):
                np.testing.assert_array_equal(a, b)
    assert [w for w, _ in contents["A"]["rpn_model"]] == RPN_WEIGHT_NAMES


# ----------------------------------------------------------------------
# 3. exclude, partial files, files made for another NUM_CLASSES
# ----------------------------------------------------------------------

def test_exclude_skips_layers_and_implies_by_name(tiny, tmp_path):
    layers = random_layers(tiny.keras_model, SUBSET, seed=3)
    path = str(tmp_path / "subset.h5")
    write_matterport_file(path, layers)
    before = snapshot(tiny.keras_model)
    # Partial file, by_name left False: exclude alone must allow it.
    loaded = tiny.load_weights(path, exclude=["conv1", "mrcnn_mask"])
    assert sorted(loaded) == sorted(set(SUBSET) - {"conv1", "mrcnn_mask"})
    after = snapshot(tiny.keras_model)
    assert_same_weights(before, after, skip=set(loaded))
    np.testing.assert_array_equal(after["bn_conv1"][0], layers[1][1][0][1])


def test_partial_file_without_by_name_raises_listing_missing(tiny, tmp_path):
    layers = random_layers(tiny.keras_model, ["conv1", "bn_conv1"], seed=4)
    path = str(tmp_path / "partial.h5")
    write_matterport_file(path, layers)
    before = snapshot(tiny.keras_model)
    with pytest.raises(ValueError) as info:
        tiny.load_weights(path, by_name=False)
    message = str(info.value)
    assert path in message
    assert "res2a_branch2a" in message and "bn2a_branch2a" in message
    assert "{} weighted layer(s)".format(len(before) - 2) in message
    assert re.search(r"\bconv1\b", message) is None and "bn_conv1" not in message
    assert_same_weights(before, snapshot(tiny.keras_model))


def test_other_num_classes_raises_and_leaves_model_untouched(tiny, tmp_path):
    fc, channels = TinyConfig.FPN_CLASSIF_FC_LAYERS_SIZE, TinyConfig.TOP_DOWN_PYRAMID_SIZE
    overrides = {"mrcnn_class_logits": [(fc, 81), (81,)],
                 "mrcnn_bbox_fc": [(fc, 81 * 4), (81 * 4,)],
                 "mrcnn_mask": [(1, 1, channels, 81), (81,)]}
    layers = random_layers(tiny.keras_model, SUBSET + ["mrcnn_bbox_fc"], seed=5,
                           overrides=overrides)
    path = str(tmp_path / "coco_classes.h5")
    write_matterport_file(path, layers)
    before = snapshot(tiny.keras_model)
    with pytest.raises(ValueError) as info:
        tiny.load_weights(path, by_name=True)
    message = str(info.value)
    assert path in message
    # The first class-specific layer in model order is named, with both shapes.
    order = [n for n, _ in weight_io.weighted_layers(tiny.keras_model)]
    first_bad = min(CLASS_SPECIFIC, key=order.index)
    assert "'{}'".format(first_bad) in message
    file_shape = dict(overrides)[first_bad][0]
    model_shape = {"mrcnn_class_logits": (fc, 4), "mrcnn_bbox_fc": (fc, 16),
                   "mrcnn_mask": (1, 1, channels, 4)}[first_bad]
    assert str(file_shape) in message and str(model_shape) in message
    # conv1 (before the bad layer in model order) was not assigned either.
    assert order.index("conv1") < order.index(first_bad)
    assert_same_weights(before, snapshot(tiny.keras_model))

    loaded = tiny.load_weights(path, exclude=CLASS_SPECIFIC)
    assert sorted(loaded) == sorted(set(SUBSET) - set(CLASS_SPECIFIC))
    after = snapshot(tiny.keras_model)
    np.testing.assert_array_equal(after["conv1"][0], layers[0][1][0][1])
    assert_same_weights(before, after, skip=loaded)


def test_wrong_weight_count_raises(tiny, tmp_path):
    kernel = np.zeros(layer_shapes(tiny.keras_model)["conv1"][0], np.float32)
    path = str(tmp_path / "count.h5")
    write_matterport_file(path, [("conv1", [("conv1/kernel:0", kernel)])])
    before = snapshot(tiny.keras_model)
    with pytest.raises(ValueError, match="conv1"):
        tiny.load_weights(path, by_name=True)
    assert_same_weights(before, snapshot(tiny.keras_model))


# ----------------------------------------------------------------------
# 4. Round trips, and atomic saving
# ----------------------------------------------------------------------

def tiny_inputs(model, seed=0):
    image = np.random.default_rng(seed).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    molded, metas, _ = model.mold_inputs([image])
    anchors = model.get_anchors(molded[0].shape)[np.newaxis]
    return image, molded, metas, anchors


def assert_same_outputs(a, b):
    _, molded, metas, anchors = tiny_inputs(a)
    out_a = a._predict(molded, metas, anchors)
    out_b = b._predict(molded, metas, anchors)
    assert list(out_a) == list(out_b) and len(out_a) == 7
    for name in out_a:
        np.testing.assert_array_equal(out_a[name], out_b[name], err_msg=name)
    return out_a


def test_save_load_round_trip(tiny_inference, tiny, tmp_path):
    path = str(tmp_path / "round_trip.h5")
    weight_io.save_weights(tiny_inference.keras_model, path)
    assert os.listdir(str(tmp_path)) == ["round_trip.h5"]

    fresh = tiny  # built apart, so differently initialised
    original = snapshot(tiny_inference.keras_model)
    assert not np.array_equal(snapshot(fresh.keras_model)["conv1"][0], original["conv1"][0])
    loaded = fresh.load_weights(path)  # by_name=False: the file is complete
    assert len(loaded) == len(original)
    assert_same_weights(original, snapshot(fresh.keras_model))
    detections = assert_same_outputs(tiny_inference, fresh)["detections"]
    assert (detections[0, :, 4] > 0).any()  # something was detected and compared

    image = tiny_inputs(tiny_inference)[0]
    r1, r2 = tiny_inference.detect([image])[0], fresh.detect([image])[0]
    for key in ("rois", "class_ids", "scores", "masks"):
        np.testing.assert_array_equal(r1[key], r2[key])


def test_training_file_loads_into_inference_model(tiny, tmp_path):
    """The weighted-layer order differs between the two graphs; loading
    matches names, so a training checkpoint loads into an inference model."""
    trainer = build(TinyConfig(), "training", tmp_path)
    path = str(tmp_path / "train.h5")
    weight_io.save_weights(trainer.keras_model, path)
    tiny.load_weights(path)
    assert_same_weights(snapshot(trainer.keras_model), snapshot(tiny.keras_model))


def test_save_directory_and_from_directory(tiny_inference, tiny, tmp_path):
    directory = str(tmp_path / "saved")
    assert tiny_inference.save(directory) == directory
    assert sorted(os.listdir(directory)) == sorted([WEIGHTS_FILE, CONFIG_FILE])
    restored = MaskRCNN.from_directory(directory)
    assert restored.mode == "inference"
    assert restored.config.NUM_CLASSES == TinyConfig.NUM_CLASSES
    assert restored.config.IMAGE_MAX_DIM == TinyConfig.IMAGE_MAX_DIM
    assert_same_weights(snapshot(tiny_inference.keras_model), snapshot(restored.keras_model))
    assert_same_outputs(tiny_inference, restored)

    # load_weights also takes the directory.
    tiny.load_weights(directory)
    assert_same_weights(snapshot(tiny_inference.keras_model), snapshot(tiny.keras_model))


def test_saved_file_has_the_usual_permissions(tmp_path):
    """Written via a temporary file, but not with mkstemp's 0600 mode."""
    import keras
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    path = str(tmp_path / "small.h5")
    weight_io.save_weights(model, path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert [w for w, _ in weight_io.read_weight_file(path)["dense"]] == [
        "dense/kernel:0", "dense/bias:0"]


class _WriteFailure(RuntimeError):
    pass


def _fail_after(monkeypatch, calls):
    original = h5py.Group.create_dataset  # h5py.File inherits it
    count = [0]

    def create_dataset(self, *args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise _WriteFailure("disk full (simulated)")
        return original(self, *args, **kwargs)
    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    return count


def test_failed_save_keeps_old_file(tiny_inference, tmp_path, monkeypatch):
    path = str(tmp_path / "weights.h5")
    with open(path, "wb") as f:
        f.write(b"previous weights")
    count = _fail_after(monkeypatch, 5)
    with pytest.raises(_WriteFailure):
        weight_io.save_weights(tiny_inference.keras_model, path)
    assert count[0] == 6  # it did fail midway
    with open(path, "rb") as f:
        assert f.read() == b"previous weights"
    assert os.listdir(str(tmp_path)) == ["weights.h5"]


def test_failed_save_leaves_nothing(tiny_inference, tmp_path, monkeypatch):
    _fail_after(monkeypatch, 3)
    with pytest.raises(_WriteFailure):
        weight_io.save_weights(tiny_inference.keras_model, str(tmp_path / "new.h5"))
    assert os.listdir(str(tmp_path)) == []


def test_full_disk_while_saving_is_a_clear_error_and_keeps_the_old_file(tiny_inference,
                                                                          tmp_path,
                                                                          monkeypatch):
    """(issue #15, item 13) errno 28 from h5py mid-save: an OSError naming
    the file and the full device (the CLI prints it), the earlier file
    intact, no temporary left. h5py also reports a failed write on close as
    a RuntimeError whose message holds the errno."""
    import errno

    from mrcnn.fileio import DiskFullError
    path = tmp_path / "mask_rcnn_tiny_0002.h5"
    path.write_bytes(b"previous weights")
    original = h5py.Group.create_dataset
    for error in (OSError(errno.ENOSPC, "No space left on device"),
                  RuntimeError("Can't decrement id ref count (file write failed: time = x, "
                               "errno = 28, error message = 'No space left on device')")):
        calls = [0]

        def create_dataset(self, *args, _error=error, _calls=calls, **kwargs):
            _calls[0] += 1
            if _calls[0] > 3:  # a few weights written, then the disk is full
                raise _error
            return original(self, *args, **kwargs)
        monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
        with pytest.raises(DiskFullError) as info:
            weight_io.save_weights(tiny_inference.keras_model, str(path))
        assert isinstance(info.value, OSError)
        message = str(info.value)
        assert str(path) in message and "no space left" in message and "intact" in message
        assert path.read_bytes() == b"previous weights"
        assert os.listdir(str(tmp_path)) == [path.name]


def test_by_name_loading_warns_with_the_count_of_layers_left_unloaded(tiny, tmp_path, caplog):
    """(issue #15, item 10) by_name=True keeps matterport's semantics (layers
    missing from the file keep their values) but says how many; strict=True
    (what the command line uses) refuses such a file."""
    import logging
    total = len(weight_io.weighted_layers(tiny.keras_model))
    layers = random_layers(tiny.keras_model, ["conv1", "bn_conv1"], seed=5)
    path = str(tmp_path / "few.h5")
    write_matterport_file(path, layers)
    with caplog.at_level(logging.WARNING, logger="mrcnn.weights"):
        loaded = tiny.load_weights(path, by_name=True)
    assert sorted(loaded) == ["bn_conv1", "conv1"]
    (record,) = [r for r in caplog.records if r.name == "mrcnn.weights"]
    assert record.levelno == logging.WARNING
    assert "loaded 2 of the model's {} weighted layers".format(total) in record.getMessage()
    assert "{} are not in the file".format(total - 2) in record.getMessage()
    assert "res2a_branch2a" in record.getMessage()
    with pytest.raises(ValueError) as info:
        tiny.load_weights(path, strict=True)
    assert "{} weighted layer(s) of the model's {} are not in the file".format(
        total - 2, total) in str(info.value)
    # A complete file but for the excluded heads: strict accepts it, no warning.
    names = [n for n, _ in weight_io.weighted_layers(tiny.keras_model)
             if n not in CLASS_SPECIFIC + ["mrcnn_bbox"]]
    path = str(tmp_path / "headless.h5")
    write_matterport_file(path, random_layers(tiny.keras_model, names, seed=6))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mrcnn.weights"):
        loaded = tiny.load_weights(path, strict=True, exclude=CLASS_SPECIFIC + ["mrcnn_bbox"])
    assert sorted(loaded) == sorted(names)
    assert not [r for r in caplog.records if r.name == "mrcnn.weights"]


# ----------------------------------------------------------------------
# 5. Errors name the file
# ----------------------------------------------------------------------

def test_missing_file(tiny_inference, tmp_path):
    path = str(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        weight_io.read_weight_file(path)
    with pytest.raises(FileNotFoundError) as info:
        tiny_inference.load_weights(path, by_name=True)
    assert path in str(info.value)
    # A directory without a saved model: the missing weight file is named.
    with pytest.raises(FileNotFoundError) as info:
        tiny_inference.load_weights(str(tmp_path))
    assert os.path.join(str(tmp_path), WEIGHTS_FILE) in str(info.value)


def test_not_hdf5(tiny_inference, tmp_path):
    path = str(tmp_path / "notes.h5")
    with open(path, "w") as f:
        f.write("this is not HDF5\n")
    with pytest.raises(ValueError) as info:
        tiny_inference.load_weights(path, by_name=True)
    assert path in str(info.value)


def test_hdf5_without_layer_names(tiny_inference, tmp_path):
    path = str(tmp_path / "plain.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
        f.create_group("model_weights")  # present, but no layer_names either
    with pytest.raises(ValueError) as info:
        tiny_inference.load_weights(path, by_name=True)
    assert path in str(info.value)
    assert "layer_names" in str(info.value)


# ----------------------------------------------------------------------
# 5. RGB weights into models of other channel counts
# ----------------------------------------------------------------------

def test_adapt_conv1_rules():
    rng = np.random.default_rng(7)
    kernel = rng.standard_normal((7, 7, 3, 8)).astype(np.float32)
    gray = rng.standard_normal((7, 7)).astype(np.float32)
    # On a gray image copied into R, G, B, the 1- and 5-channel kernels
    # answer like the RGB one.
    rgb_response = np.einsum("hw,hwcf->f", gray, kernel)
    one = weight_io.adapt_conv1(kernel, 1)
    assert one.shape == (7, 7, 1, 8)
    np.testing.assert_allclose(np.einsum("hw,hwcf->f", gray, one), rgb_response, rtol=1e-5)
    six = weight_io.adapt_conv1(kernel, 6)
    np.testing.assert_allclose(np.einsum("hw,hwcf->f", gray, six), rgb_response, rtol=1e-4,
                               atol=1e-5)
    five = weight_io.adapt_conv1(kernel, 5)
    np.testing.assert_allclose(five[:, :, 3], kernel[:, :, 0] * 3 / 5, rtol=1e-6)
    np.testing.assert_allclose(five[:, :, 4], kernel[:, :, 1] * 3 / 5, rtol=1e-6)
    zeros = weight_io.adapt_conv1(kernel, 4, extra="zeros")
    np.testing.assert_array_equal(zeros[:, :, :3], kernel)
    assert not zeros[:, :, 3].any()
    np.testing.assert_array_equal(weight_io.adapt_conv1(kernel, 3), kernel)
    with pytest.raises(ValueError, match="RGB kernel"):
        weight_io.adapt_conv1(kernel[:, :, :1], 4)


def test_rgb_file_into_one_channel_model(tmp_path):
    class Gray(TinyConfig):
        IMAGE_CHANNEL_COUNT = 1
        MEAN_PIXEL = np.array([115.0])

    model = build(Gray(), "inference", tmp_path)
    rgb_conv1 = [("conv1/kernel:0", np.random.default_rng(1).standard_normal(
        (7, 7, 3, 64)).astype(np.float32)), ("conv1/bias:0", np.ones(64, np.float32))]
    layers = [("conv1", rgb_conv1)] + random_layers(model.keras_model, ["bn_conv1"], seed=2)
    path = str(tmp_path / "rgb.h5")
    write_matterport_file(path, layers)
    before = snapshot(model.keras_model)
    with pytest.raises(ValueError, match="'conv1' takes 1 input channels.*adapt_input_channels"):
        weight_io.load_weights(model.keras_model, path, by_name=True)
    assert_same_weights(before, snapshot(model.keras_model))
    assert weight_io.load_weights(model.keras_model, path, by_name=True,
                                  exclude=["conv1"]) == ["bn_conv1"]
    loaded = weight_io.load_weights(model.keras_model, path, by_name=True,
                                    adapt_input_channels=True)
    assert sorted(loaded) == ["bn_conv1", "conv1"]
    kernel, bias = model.keras_model.get_layer("conv1").get_weights()
    np.testing.assert_allclose(kernel, rgb_conv1[0][1].sum(axis=2, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(bias, 1)
