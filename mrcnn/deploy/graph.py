"""The conversion graph: uint8 images in, the SavedModel's outputs out, with
ops that tf2onnx and the TFLite builtins take.

    images uint8 [B, H, W, C]
      -> preprocess_portable (float32 resize, mold table, metas, anchors)
      -> the portable network (mrcnn.layers.portable: RoIAlign by gathers,
         proposals and detections without map_fn / CombinedNonMaxSuppression)
      -> unmold_detections_portable
      -> num_detections, detection_boxes, detection_classes, detection_scores,
         detection_masks (+ the heads' serving outputs)

Unlike mrcnn.export's servable there is no empty-batch tf.cond (B >= 1), no
decoding of encoded images and no float64.
"""

import tensorflow as tf

from mrcnn.export import OUTPUT_KEYS
from mrcnn.heads import build_roi_heads
from mrcnn.modeling import contracts
from mrcnn.deploy.heads import portable_serving_outputs
from mrcnn.deploy.postprocess import unmold_detections_portable
from mrcnn.deploy.preprocess import check_exportable, preprocess_portable

INPUT_NAME = "images"


def portable_network(model):
    """The portable twin of model.keras_model (same inputs, outputs and
    weights) from mrcnn.layers.portable, or None where that module is absent."""
    try:
        from mrcnn.layers.portable import portable_model
    except ImportError:
        return None
    return portable_model(model)


class DeployGraph(object):
    """The conversion graph of an inference MaskRCNN.

    network: the Keras model to run (inputs molded images, metas, anchors;
        outputs named like model.keras_model's); default the portable twin
        (portable_network), or model.keras_model where there is none (its
        CropAndResize / CombinedNonMaxSuppression then fail to convert).
    extra_outputs: add the heads' serving outputs (RoIHead.serving_signature;
        values from mrcnn.deploy.heads.portable_serving_outputs).
    """

    def __init__(self, model, network=None, extra_outputs=True):
        if getattr(model, "mode", "inference") != "inference":
            raise ValueError("export needs a model in inference mode; build "
                             "MaskRCNN(mode='inference', ...) and load the weights")
        self.config = model.config
        check_exportable(self.config)
        if network is None:
            network = portable_network(model)
        self.portable = network is not None and network is not model.keras_model
        self.network = network if network is not None else model.keras_model
        self.heads = build_roi_heads(self.config) if extra_outputs else []
        self.extra_specs = {}
        for head in self.heads:
            self.extra_specs.update(head.serving_signature())

    def output_keys(self):
        return OUTPUT_KEYS + tuple(self.extra_specs)

    def __call__(self, images):
        """uint8 [B, H, W, C] -> {output name: tensor}, B >= 1."""
        pre = preprocess_portable(images, self.config)
        molded, metas = pre["molded"], pre["metas"]
        batch = tf.shape(images)[0]
        anchors = tf.tile(pre["anchors"][None], tf.stack([batch, 1, 1]))
        named = contracts.by_name(self.network,
                                  self.network([molded, metas, anchors], training=False))
        result = unmold_detections_portable(named["detections"], named["mrcnn_mask"], metas)
        if self.heads:
            hw = tf.shape(images)[1:3]
            original_hw = tf.tile(hw[None], tf.stack([batch, 1]))
            for head in self.heads:
                result.update(portable_serving_outputs(head, named, metas, original_hw,
                                                       result))
        return {k: result[k] for k in self.output_keys()}

    def input_spec(self, batch=None):
        return tf.TensorSpec([batch, None, None, int(self.config.IMAGE_CHANNEL_COUNT)],
                             tf.uint8, name=INPUT_NAME)

    def function(self, batch=None):
        """A tf.function of `images` uint8 [batch, None, None, C] (batch None:
        any) -> the outputs by name."""
        return tf.function(self.__call__, input_signature=[self.input_spec(batch)])
