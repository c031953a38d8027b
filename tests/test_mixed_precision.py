"""Mixed precision (Config.MIXED_PRECISION): float32 boundaries, training
steps, and detections close to float32's on a small trained model."""
import numpy as np
import pytest

from mrcnn import utils
from mrcnn.config import Config
from mrcnn.model import MaskRCNN
from test_model import InferenceTiny, SquareDataset, TinyConfig


def test_mixed_precision_is_validated():
    class Bad(TinyConfig):
        MIXED_PRECISION = "bfloat16"
    with pytest.raises(ValueError, match="MIXED_PRECISION"):
        Bad()
    assert Config.MIXED_PRECISION is None


def test_graph_dtypes_and_policy_restored(tmp_path):
    import keras

    class C(InferenceTiny):
        MIXED_PRECISION = "mixed_bfloat16"
    model = MaskRCNN("inference", C(), str(tmp_path))
    assert keras.config.dtype_policy().name == "float32"
    km = model.keras_model
    assert all(str(o.dtype) == "float32" for o in km.outputs)
    assert km.get_layer("fpn_p2").compute_dtype == "bfloat16"
    for name in ("ROI", "mrcnn_detection", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask"):
        assert km.get_layer(name).compute_dtype == "float32", name
    # Variables stay float32 (checkpoints are interchangeable).
    assert all(str(w.dtype) == "float32" for w in km.weights)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_training_steps_are_finite(tmp_path, precision):
    import keras

    class C(TinyConfig):
        MIXED_PRECISION = precision
        STEPS_PER_EPOCH = 2
        VALIDATION_STEPS = 0
    d = SquareDataset()
    d.load(4)
    keras.utils.set_random_seed(0)
    model = MaskRCNN("training", C(), str(tmp_path))
    history = model.train(d, None, learning_rate=0.003, epochs=1, layers="all", verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A tiny float32 model trained on the toy images, saved to a directory."""
    import keras
    keras.utils.set_random_seed(0)
    d = SquareDataset()
    d.load(6)
    config = TinyConfig()
    config.STEPS_PER_EPOCH = 120  # trained enough that boxes are stable
    config.VALIDATION_STEPS = 0
    model = MaskRCNN("training", config, str(tmp_path_factory.mktemp("logs")))
    model.train(d, None, learning_rate=0.003, epochs=1, layers="all", verbose=0)
    return model.save(str(tmp_path_factory.mktemp("model"))), d


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_detections_close_to_float32(saved_model, precision):
    """Confident detections agree; those near the confidence threshold may
    appear in one precision only, so each side's confident detections
    (>= 0.8) must be found in the other's (>= 0.5)."""
    directory, d = saved_model
    kw = dict(DETECTION_MIN_CONFIDENCE=0.5, DETECTION_MAX_INSTANCES=8)
    ref = MaskRCNN.from_directory(directory, **kw)
    mixed = MaskRCNN.from_directory(directory, MIXED_PRECISION=precision, **kw)
    assert mixed.config.MIXED_PRECISION == precision
    confident_total = 0
    for image_id in range(3):
        image = d.load_image(image_id)
        a = ref.detect([image])[0]
        b = mixed.detect([image])[0]
        for x, y in ((a, b), (b, a)):
            confident = np.where(x["scores"] >= 0.8)[0]
            confident_total += len(confident)
            if not len(confident):
                continue
            assert len(y["class_ids"]) > 0
            overlaps = utils.compute_overlaps(x["rois"][confident].astype(np.float32),
                                              y["rois"].astype(np.float32))
            match = overlaps.argmax(axis=1)
            assert overlaps.max(axis=1).min() > 0.8, overlaps
            np.testing.assert_array_equal(x["class_ids"][confident], y["class_ids"][match])
            # bfloat16 keeps ~3 significant digits: confident scores move by
            # well under a hundredth.
            np.testing.assert_allclose(x["scores"][confident], y["scores"][match], atol=0.03)
    assert confident_total >= 6  # the trained model finds its objects

