"""mrcnn.modeling: the graph's named contracts, the RoI head registry, an
added head (docs/architecture.md's walk-through, run as written) and the
inference model saved as a .keras file."""

import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import losses
from mrcnn import weights as weight_io
from mrcnn.heads import HEADS, RoIHead, build_roi_heads, register_head
from mrcnn.layers.tensors import LossLayer
from mrcnn.model import MaskRCNN
from mrcnn.modeling import contracts
from mrcnn.training import Trainer, loss_names, make_optimizer

import test_model  # tests/ is on sys.path (no __init__.py)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURE_MD = os.path.join(REPO_ROOT, "docs", "architecture.md")


class TinyConfig(test_model.TinyConfig):
    """test_model's tiny ResNet-18 config, one image a batch."""
    IMAGES_PER_GPU = 1


def biased_to_class_1(model):
    """Make the classifier prefer class 1 everywhere, so that an untrained
    model has detections to compare."""
    logits = model.keras_model.get_layer("mrcnn_class_logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([np.zeros_like(kernel), np.array([0.0, 2.0, 0.0], np.float32)])


def scene_image(seed=0, shape=(64, 80, 3)):
    rng = np.random.default_rng(seed)
    image = np.full(shape, 40, np.uint8)
    image[10:40, 12:50] = (200, 60, 60)
    image[45:60, 30:75] = (60, 200, 60)
    return np.clip(image + rng.integers(0, 20, shape), 0, 255).astype(np.uint8)


def toy_batch(config):
    """A training batch of the tf.data pipeline on test_model's 64x64 toy
    images (a square and a bar each)."""
    from mrcnn.data.pipeline import make_tf_dataset
    dataset = test_model.SquareDataset()
    dataset.load(2)
    return next(iter(make_tf_dataset(dataset, config, shuffle=False)))


# ----------------------------------------------------------------------
# Contracts
# ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def inference_model(tmp_path_factory):
    keras.utils.set_random_seed(1)
    model = MaskRCNN("inference", TinyConfig(), str(tmp_path_factory.mktemp("logs")))
    biased_to_class_1(model)
    return model


def test_outputs_are_named_in_matterports_order(inference_model, tmp_path):
    assert contracts.output_names(inference_model.keras_model) == list(
        contracts.INFERENCE_OUTPUTS)
    training = MaskRCNN("training", TinyConfig(), str(tmp_path))
    assert contracts.output_names(training.keras_model) == list(contracts.TRAINING_OUTPUTS)
    assert [t.name for t in training.keras_model.inputs] == list(contracts.TRAINING_INPUTS)
    assert [t.name for t in inference_model.keras_model.inputs] == list(
        contracts.INFERENCE_INPUTS)
    # The losses the trainer sums, by name.
    assert loss_names(TinyConfig()) == list(contracts.TRAINING_OUTPUTS[-5:])
    trainer = Trainer(training.keras_model, TinyConfig())
    assert trainer.loss_names == list(contracts.TRAINING_OUTPUTS[-5:])


def test_by_name_maps_values_to_outputs(inference_model):
    values = list(range(len(inference_model.keras_model.outputs)))
    named = contracts.by_name(inference_model.keras_model, values)
    assert named["detections"] == 0 and named["mrcnn_mask"] == 3 and named["rpn_bbox"] == 6
    names, tensors = contracts.order_outputs({"extra": "e", "mrcnn_mask": "m",
                                              "detections": "d"}, "inference")
    assert names == ["detections", "mrcnn_mask", "extra"] and tensors == ["d", "m", "e"]


def test_mask_loss_reads_positives_wherever_they_are(tmp_path):
    """The training graph's mask head takes its RoIs by target class id:
    the mask loss of the whole graph equals the loss computed from the
    targets directly, on the positives."""
    config = TinyConfig()
    # Many proposals, so that some are positives.
    config.PRE_NMS_LIMIT = 2000
    config.POST_NMS_ROIS_TRAINING = 600
    model = MaskRCNN("training", config, str(tmp_path))
    km = model.keras_model
    # Zero box deltas: the proposals are anchors (an untrained RPN's deltas
    # flatten them), some of which overlap the objects.
    rpn_bbox = km.get_layer("rpn_model").get_layer("rpn_bbox_pred")
    rpn_bbox.set_weights([np.zeros_like(w) for w in rpn_bbox.get_weights()])
    targets = km.get_layer("proposal_targets").output
    probe = keras.Model(km.inputs, [targets[1], targets[3], km.get_layer("mrcnn_mask_rois").output,
                                    km.outputs[-1]])
    batch = toy_batch(config)
    tf.random.set_seed(0)
    class_ids, target_mask, pred, loss = probe(list(batch), training=False)
    positive = np.where(class_ids.numpy() > 0)
    assert len(positive[0]) > 0
    count = np.bincount(positive[0], minlength=class_ids.shape[0])
    # The head's rows: each image's positives first.
    rows = [(b, i) for b in range(class_ids.shape[0]) for i in range(count[b])]
    eps = 1e-7
    total = []
    for (b, i), (b2, k) in zip(rows, zip(*positive)):
        assert b == b2
        p = np.clip(pred[b, i, :, :, class_ids[b2, k]].numpy(), eps, 1 - eps)
        y = target_mask[b2, k].numpy()
        total.append(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    np.testing.assert_allclose(loss.numpy(), np.mean(total), rtol=1e-5)


# ----------------------------------------------------------------------
# The head registry and config.ROI_HEADS
# ----------------------------------------------------------------------

def test_builtin_heads_and_errors(tmp_path):
    heads = build_roi_heads(TinyConfig())
    assert [h.name for h in heads] == ["box", "mask"]
    assert heads[1].requires == ("detections",)
    config = TinyConfig()
    config.ROI_HEADS = ("box", "mask", "nope")
    with pytest.raises(ValueError, match="unknown head.*'nope'"):
        build_roi_heads(config)
    for bad, message in [(("mask", "box"), "must start with 'box'"),
                         (("box", "box"), "distinct"), ((), "distinct"),
                         ("box", "distinct")]:
        config = TinyConfig()
        config.ROI_HEADS = bad
        with pytest.raises(ValueError, match="ROI_HEADS.*" + message):
            config.validate()
    with pytest.raises(ValueError, match="built-in RoI head"):
        register_head("mask")(type("MyMask", (RoIHead,), {}))
    with pytest.raises(ValueError, match="built-in loss"):
        losses.register_loss("mrcnn_mask_loss", lambda *x: 0.0)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        LossLayer("nope")
    config = TinyConfig()
    config.LOSS_WEIGHTS = dict(config.LOSS_WEIGHTS, mrcnn_mask_los=1.0)
    with pytest.raises(ValueError, match="LOSS_WEIGHTS.*mrcnn_mask_los"):
        config.validate()


def test_a_head_must_build_what_it_declares(tmp_path):
    from mrcnn.heads.mask import MaskHead

    @register_head("mask_undeclared")
    class Undeclared(MaskHead):
        outputs = ("mrcnn_mask", "extra")
    config = TinyConfig()
    config.ROI_HEADS = ("box", "mask_undeclared")
    with pytest.raises(ValueError, match=r"'mask_undeclared' \(Undeclared\) built the "
                                         r"inference outputs \['mrcnn_mask'\] but declares "
                                         r"\['extra', 'mrcnn_mask'\]"):
        MaskRCNN("inference", config, str(tmp_path))


def test_box_only_model_has_no_mask_outputs(tmp_path):
    config = TinyConfig()
    config.ROI_HEADS = ("box",)
    model = MaskRCNN("inference", config, str(tmp_path))
    assert contracts.output_names(model.keras_model) == [
        "detections", "mrcnn_class", "mrcnn_bbox", "rpn_rois", "rpn_class", "rpn_bbox"]
    training = MaskRCNN("training", config, str(tmp_path))
    assert "mrcnn_mask_loss" not in contracts.output_names(training.keras_model)
    assert loss_names(config) == ["rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss",
                                  "mrcnn_bbox_loss"]


# ----------------------------------------------------------------------
# docs/architecture.md: "How to add a head", as written
# ----------------------------------------------------------------------

def architecture_examples():
    with open(ARCHITECTURE_MD) as f:
        text = f.read()
    section = text[text.index("## How to add a head"):]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def added_head():
    """Runs the walk-through's code blocks: the head, then the config."""
    namespace = {}
    head_code, config_code = architecture_examples()
    exec(compile(head_code, ARCHITECTURE_MD, "exec"), namespace)
    exec(compile(config_code, ARCHITECTURE_MD, "exec"), namespace)
    assert HEADS["objectness"] is namespace["ObjectnessHead"]

    def make(num_classes=namespace["MyConfig"].NUM_CLASSES):
        """TinyConfig's sizes with MyConfig's heads."""
        attrs = {"NUM_CLASSES": num_classes, "ROI_HEADS": namespace["MyConfig"].ROI_HEADS}
        return type("ObjectnessTiny", (TinyConfig,), attrs)()
    return make


def test_added_head_trains_with_its_loss(added_head, tmp_path):
    config = added_head(TinyConfig.NUM_CLASSES)   # the toy images' classes
    assert config.ROI_HEADS == ("box", "mask", "objectness")
    model = MaskRCNN("training", config, str(tmp_path))
    names = contracts.output_names(model.keras_model)
    assert names == list(contracts.TRAINING_OUTPUTS) + ["objectness", "objectness_loss"]
    trainer = Trainer(model.keras_model, config)
    assert trainer.loss_names[-1] == "objectness_loss"
    trainer.compile(optimizer=make_optimizer(config, 1e-3), jit_compile=False)
    batch = toy_batch(config)
    before = model.keras_model.get_layer("objectness_logits").get_weights()[0].copy()
    logs = trainer.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["objectness_loss"]) and logs["objectness_loss"] > 0
    assert set(logs) >= {"loss", "mrcnn_mask_loss", "objectness_loss"}
    after = model.keras_model.get_layer("objectness_logits").get_weights()[0]
    assert not np.array_equal(before, after)   # its loss reaches its weights


def test_added_head_leaves_detections_unchanged(added_head, inference_model, tmp_path):
    config = added_head(TinyConfig.NUM_CLASSES)
    model = MaskRCNN("inference", config, str(tmp_path))
    names = contracts.output_names(model.keras_model)
    assert names == list(contracts.INFERENCE_OUTPUTS) + ["objectness"]
    path = str(tmp_path / "w.h5")
    weight_io.save_weights(inference_model.keras_model, path)
    model.load_weights(path, by_name=True)
    image = scene_image()
    want = inference_model.detect([image])[0]
    got = model.detect([image])[0]
    assert len(want["class_ids"]) > 0
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    km = model.keras_model
    values = model.run_graph([image], [("objectness", km.get_layer("objectness").output),
                                       ("logits", km.get_layer("objectness_logits").output)])
    assert values["objectness"].shape == (1, config.DETECTION_MAX_INSTANCES, 1)
    np.testing.assert_allclose(values["objectness"], 1 / (1 + np.exp(-values["logits"])),
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------
# keras_model.save("m.keras") / keras.saving.load_model
# ----------------------------------------------------------------------

def test_keras_file_round_trip_gives_the_same_detections(inference_model, tmp_path):
    path = str(tmp_path / "m.keras")
    inference_model.keras_model.save(path)
    loaded = keras.saving.load_model(path)
    assert contracts.output_names(loaded) == list(contracts.INFERENCE_OUTPUTS)
    again = MaskRCNN("inference", TinyConfig(), str(tmp_path))
    again.keras_model = loaded
    images = [scene_image(0), scene_image(1, (50, 90, 3))]
    want = inference_model.detect(images)
    got = again.detect(images)
    assert sum(len(r["class_ids"]) for r in want) > 0
    for w, g in zip(want, got):
        for key in w:
            np.testing.assert_array_equal(g[key], w[key], err_msg=key)
    # Every custom layer is a registered, configurable class.
    for layer in loaded.layers:
        type(layer).from_config(layer.get_config())
