"""The semantic ("stuff") head of Panoptic FPN (Kirillov et al., "Panoptic
Feature Pyramid Networks", 2019): an image-level head on P2..P5.

Each level goes through 3x3 convolutions of SEMANTIC_CONV_CHANNELS
(GroupNorm of SEMANTIC_GROUPS groups, ReLU), each but P2's followed by a 2x
bilinear upsampling, until it reaches 1/4 of the image (P2: one conv, P3:
one conv + 2x, P4: two, P5: three); the four maps are summed (P3..P5's
before their last, shared, upsampling: the same sum), a 1x1
convolution gives NUM_STUFF_CLASSES + 1 logits per pixel (0 = "thing or
other", k = the k-th class of config.stuff_class_ids()) and a 4x bilinear
upsampling brings them to the image's size.

Training input ``input_gt_semantic``: int32 [batch, H, W] at the molded
size, the label of each pixel in the head's order (0 thing/other, k the
k-th stuff class, -1 void: unlabelled pixels and the padding;
mrcnn.data.semantic). Loss ``semantic_loss``: the softmax cross-entropy
averaged over the non-void pixels of the batch (0 when all are void).

Inference output ``mrcnn_semantic``: int32 [batch, H, W] at the molded
size: the internal class id of each pixel's arg-max stuff class, 0 where it
is "thing/other". detect() crops and resizes it to the original image
(``semantic``) and fuses it with the detections (``panoptic``,
``segments``, mrcnn.panoptic.fuse); the SavedModel does the same in the
graph (`serving_outputs`, mrcnn.heads.semantic_serving).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers as KL

from mrcnn import losses
from mrcnn.heads.base import RoIHead, register_head
from mrcnn.layers.norm import GroupNorm
from mrcnn.layers.tensors import LossLayer

# Strides of P2..P5 (the branch's inputs) relative to the image.
LEVEL_STRIDES = (4, 8, 16, 32)


############################################################
#  Loss
############################################################

def semantic_loss_graph(labels, logits):
    """Mean softmax cross-entropy over the non-void pixels.

    labels: int [batch, H, W]: class index, < 0 for void (ignored).
    logits: [batch, H, W, classes].
    Returns a float32 scalar; 0 when every pixel is void.
    """
    labels = tf.cast(labels, tf.int32)
    logits = tf.cast(logits, tf.float32)
    valid = labels >= 0
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.maximum(labels, 0), logits=logits)
    weight = tf.cast(valid, tf.float32)
    return tf.reduce_sum(ce * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


losses.register_loss("semantic_loss", semantic_loss_graph)


############################################################
#  Layers
############################################################

@keras.saving.register_keras_serializable(package="mrcnn")
class SemanticClasses(KL.Layer):
    """Logits [batch, H, W, 1 + S] -> int32 [batch, H, W]: the internal class
    id of each pixel's arg-max class (`stuff_class_ids[k - 1]` for class
    k >= 1, 0 for class 0, "thing/other"). The first of equal logits wins."""

    def __init__(self, stuff_class_ids, **kwargs):
        super().__init__(**kwargs)
        self.stuff_class_ids = [int(c) for c in stuff_class_ids]

    def call(self, logits):
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)
        table = tf.constant([0] + self.stuff_class_ids, tf.int32)
        return tf.gather(table, best)

    def compute_output_spec(self, logits):
        return keras.KerasTensor(tuple(logits.shape[:3]), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(stuff_class_ids=self.stuff_class_ids)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class BilinearUpsample(KL.Layer):
    """[batch, h, w, c] -> [batch, factor * h, factor * w, c], bilinear with
    half-pixel centres (tf.image.resize; what UpSampling2D(interpolation=
    "bilinear") computes), also when h and w are only known at run time
    (the SavedModel's dynamic shapes, where UpSampling2D fails)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        size = tf.shape(x)[1:3] * self.factor
        return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)

    def compute_output_spec(self, x):
        shape = [None if d is None else d * self.factor for d in x.shape[1:3]]
        return keras.KerasTensor((x.shape[0], *shape, x.shape[3]), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor)
        return config


def build_semantic_graph(feature_maps, config):
    """Panoptic FPN's semantic branch: [P2, P3, P4, P5] -> logits [batch,
    4 * H2, 4 * W2, NUM_STUFF_CLASSES + 1] float32 (H2, W2: P2's size, so
    the molded image's). Layers are named mrcnn_semantic_* (they train
    with layers="heads", "3+", "all")."""
    channels = int(config.SEMANTIC_CONV_CHANNELS)
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out",
                                              distribution="untruncated_normal")
    at_eighth = []   # P3..P5, each brought to 1/8 scale
    for level, (stride, x) in enumerate(zip(LEVEL_STRIDES, feature_maps), start=2):
        stages = max(1, int(np.log2(stride)) - 2)
        for k in range(1, stages + 1):
            x = KL.Conv2D(channels, (3, 3), padding="same", use_bias=False,
                          kernel_initializer=init,
                          name="mrcnn_semantic_p{}_conv{}".format(level, k))(x)
            x = GroupNorm(groups=int(config.SEMANTIC_GROUPS), epsilon=1e-5,
                          name="mrcnn_semantic_p{}_gn{}".format(level, k))(x)
            x = KL.Activation("relu")(x)
            if stride > 4 and k < stages:
                x = BilinearUpsample(2, name="mrcnn_semantic_p{}_up{}".format(level, k))(x)
        if stride == 4:
            p2 = x
        else:
            at_eighth.append(x)
    # Each of P3..P5 ends with a 2x upsampling to 1/4 scale before the sum;
    # upsampling is linear, so the three are summed at 1/8 and upsampled once
    # (the same sum, a third of the work at the largest size).
    x = KL.Add(name="mrcnn_semantic_sum_p3_p5")(at_eighth)
    x = BilinearUpsample(2, name="mrcnn_semantic_up")(x)
    x = KL.Add(name="mrcnn_semantic_sum")([p2, x])
    x = KL.Conv2D(int(config.NUM_STUFF_CLASSES) + 1, (1, 1), kernel_initializer=init,
                  name="mrcnn_semantic_classifier", dtype="float32")(x)
    return BilinearUpsample(4, name="mrcnn_semantic_logits", dtype="float32")(x)


############################################################
#  Unmolding (NumPy and TensorFlow side by side)
############################################################

def source_rows(out_size, start, stop):
    """int64 [out_size]: the molded row (or column) sampled for each row of
    an original image of `out_size` rows whose pixels occupy [start, stop)
    of the molded image: start + floor((r + 0.5) * (stop - start) /
    out_size), the nearest neighbour of the row's centre, in integers."""
    r = np.arange(int(out_size), dtype=np.int64)
    return int(start) + ((2 * r + 1) * (int(stop) - int(start))) // (2 * int(out_size))


def unmold_semantic(semantic, original_image_shape, window):
    """A molded class map [H, W] (the `mrcnn_semantic` of one image) ->
    int32 [h, w] of the original image: the window cropped and resized by
    nearest neighbour (`source_rows`)."""
    y1, x1, y2, x2 = (int(v) for v in window)
    h, w = int(original_image_shape[0]), int(original_image_shape[1])
    semantic = np.asarray(semantic)
    if (y2 - y1, x2 - x1) == (h, w):           # molded at scale 1: a crop
        return np.array(semantic[y1:y2, x1:x2], np.int32)
    rows = source_rows(h, y1, y2)
    cols = source_rows(w, x1, x2)
    # Two one-axis takes: faster than one [rows, cols] fancy index.
    return np.take(np.take(semantic, rows, axis=0), cols, axis=1).astype(np.int32, copy=False)


def unmold_semantic_graph(semantic, window, height, width):
    """TensorFlow twin of `unmold_semantic` for one image: semantic int32
    [H, W], window int [4] (molded pixels), height/width int32 scalars of the
    original image -> int32 [height, width]."""
    window = tf.cast(window, tf.int64)

    def rows(size, start, stop):
        r = tf.range(tf.cast(size, tf.int64), dtype=tf.int64)
        return start + ((2 * r + 1) * (stop - start)) // (2 * tf.cast(size, tf.int64))

    ys = rows(height, window[0], window[2])
    xs = rows(width, window[1], window[3])
    return tf.gather(tf.gather(semantic, ys, axis=0), xs, axis=1)


############################################################
#  The head
############################################################

@register_head("semantic")
class SemanticHead(RoIHead):
    """Panoptic FPN's semantic branch (see the module docstring), an
    image-level head: it reads ``ctx.feature_maps`` (P2..P5), no RoI.
    Selected by config.NUM_STUFF_CLASSES > 0 (Config adds "semantic" to
    ROI_HEADS).

    Training input ``input_gt_semantic``; training output
    ``mrcnn_semantic_logits`` [batch, H, W, 1 + S] float32 and the loss
    ``semantic_loss``; inference output ``mrcnn_semantic``. detect() adds
    "semantic", "panoptic" and "segments" (`unmold_result`).
    """

    outputs = ("mrcnn_semantic",)
    training_outputs = ("mrcnn_semantic_logits",)
    losses = ("semantic_loss",)

    def __init__(self, config):
        super().__init__(config)
        if not config.NUM_STUFF_CLASSES:
            raise ValueError("config.ROI_HEADS has 'semantic' but config.NUM_STUFF_CLASSES "
                             "is 0")

    def training_inputs(self):
        return {"input_gt_semantic": KL.Input(shape=[None, None], name="input_gt_semantic",
                                              dtype="int32")}

    def build_training(self, ctx):
        logits = build_semantic_graph(ctx.feature_maps, self.config)
        return {"mrcnn_semantic_logits": logits,
                "semantic_loss": LossLayer("semantic_loss")(
                    [ctx.inputs["input_gt_semantic"], logits])}

    def build_inference(self, ctx):
        logits = build_semantic_graph(ctx.feature_maps, self.config)
        return {"mrcnn_semantic": SemanticClasses(self.config.stuff_class_ids(),
                                                  name="mrcnn_semantic")(logits)}

    def fuse_options(self):
        """The keyword arguments of mrcnn.panoptic.fuse from the config."""
        c = self.config
        return dict(score_threshold=float(c.PANOPTIC_SCORE_THRESHOLD),
                    overlap_threshold=float(c.PANOPTIC_OVERLAP_THRESHOLD),
                    stuff_area_limit=int(c.PANOPTIC_STUFF_AREA_LIMIT))

    def unmold_result(self, result, outputs, original_image_shape, image_shape, window):
        """detect()'s "semantic" (int32 [H, W] of the original image:
        internal stuff class ids, 0 = thing/other) and the fusion of the
        detections with it (mrcnn.panoptic.fuse with the PANOPTIC_*
        thresholds): "panoptic" (int32 [H, W] segment ids, 0 void) and
        "segments" (fuse's list; category_id is the internal class id)."""
        from mrcnn.panoptic import fuse

        semantic = unmold_semantic(outputs["mrcnn_semantic"], original_image_shape, window)
        panoptic, segments = fuse(result["masks"], result["class_ids"], result["scores"],
                                  semantic, self.config.stuff_class_ids(),
                                  boxes=result["rois"], **self.fuse_options())
        return {"semantic": semantic, "panoptic": panoptic, "segments": segments}

    def serving_signature(self):
        from mrcnn.heads.semantic_serving import serving_signature
        return serving_signature(self.config)

    def serving_outputs(self, outputs, metas, original_hw, result):
        from mrcnn.heads.semantic_serving import serving_outputs
        return serving_outputs(self, outputs, metas, original_hw, result)
