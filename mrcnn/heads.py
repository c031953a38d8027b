"""Network heads: the RPN, the box/class head and the mask head.

Layer names follow matterport (``rpn_model`` with ``rpn_conv_shared``,
``rpn_class_raw``, ``rpn_bbox_pred``; ``mrcnn_class_conv1`` ...
``mrcnn_bbox_fc``; ``mrcnn_mask_conv1`` ... ``mrcnn_mask``) so weight files
load by name. The per-RoI layers run on RoIs folded into the batch axis
([batch * rois, h, w, c]) rather than through TimeDistributed.
"""

import keras
import tensorflow as tf
from keras import layers as KL

from mrcnn.backbone import BatchNorm
from mrcnn.layers import PyramidROIAlign


@keras.saving.register_keras_serializable(package="mrcnn")
class _Reshaper(KL.Layer):
    """A pure reshape: keeps its input's dtype (no mixed-precision cast)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def compute_output_spec(self, x):
        shape = self.compute_output_shape(tuple(x.shape))
        return keras.KerasTensor(shape, dtype=x.dtype)


@keras.saving.register_keras_serializable(package="mrcnn")
class FoldRois(_Reshaper):
    """[batch, rois, ...] -> [batch * rois, ...]."""

    def call(self, x):
        # Keep the static sizes of the trailing axes (the layers after it,
        # e.g. WindowConv2D, use them).
        dynamic = tf.shape(x)
        shape = [-1] + [d if d is not None else dynamic[i + 2]
                        for i, d in enumerate(x.shape[2:])]
        return tf.reshape(x, tf.stack(shape) if any(
            isinstance(d, tf.Tensor) for d in shape) else shape)

    def compute_output_shape(self, input_shape):
        b, n = input_shape[0], input_shape[1]
        return ((b * n if b is not None and n is not None else None),) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="mrcnn")
class UnfoldRois(_Reshaper):
    """[batch * rois, ...] -> [batch, rois, ...] for a fixed number of rois."""

    def __init__(self, num_rois, **kwargs):
        super().__init__(**kwargs)
        self.num_rois = int(num_rois)

    def call(self, x):
        return tf.reshape(x, tf.concat([[-1, self.num_rois], tf.shape(x)[1:]], axis=0))

    def compute_output_shape(self, input_shape):
        return (None, self.num_rois) + tuple(input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update(num_rois=self.num_rois)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class AnchorsReshape(_Reshaper):
    """[batch, h, w, anchors * k] -> [batch, h * w * anchors, k]."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)

    def call(self, x):
        return tf.reshape(x, [tf.shape(x)[0], -1, self.k])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, self.k)

    def get_config(self):
        config = super().get_config()
        config.update(k=self.k)
        return config


@keras.saving.register_keras_serializable(package="mrcnn")
class WindowConv2D(KL.Conv2D):
    """A "valid" Conv2D whose kernel covers its whole input (the box head's
    7x7 and 1x1 "fully connected" convs), computed as one matrix product.

    Same weights, names and outputs as KL.Conv2D (matterport's weight files
    load unchanged); a matmul is up to 2x faster than the conv kernel for
    this shape, forward and backward.

    Input: [N, kh, kw, channels] with (kh, kw) = kernel_size.
    Output: [N, 1, 1, filters].
    """

    def call(self, inputs):
        kh, kw = self.kernel_size
        if (inputs.shape[1], inputs.shape[2]) != (kh, kw) or self.padding != "valid":
            return super().call(inputs)
        flat = tf.reshape(inputs, [-1, kh * kw * inputs.shape[-1]])
        kernel = tf.reshape(self.kernel, [-1, self.filters])
        x = tf.matmul(flat, tf.cast(kernel, flat.dtype))
        if self.use_bias:
            x = tf.nn.bias_add(x, tf.cast(self.bias, x.dtype))
        if self.activation is not None:
            x = self.activation(x)
        return tf.reshape(x, [-1, 1, 1, self.filters])


# Code that picks layers by class name (matterport's inspect_weights notebook
# filters on "Conv2D") keeps seeing these as Conv2D layers.
WindowConv2D.__name__ = WindowConv2D.__qualname__ = "Conv2D"


def _conv_relu_sparse_grad(x, kernel, bias, dense_fraction):
    """relu(conv2d(x, kernel, stride 1, "same") + bias) whose gradient is
    computed only where the incoming gradient is non-zero.

    The RPN's losses look at RPN_TRAIN_ANCHORS_PER_IMAGE sampled anchors and
    the anchors of a few positive proposals: a few hundred of the feature
    map's positions. The gradient reaching rpn_conv_shared is zero
    everywhere else, yet the dense backward convolutions (filter and input
    gradients, twice the forward's work) multiply all those zeros. Here the
    non-zero positions are gathered (K of them), the filter gradient is one
    [K, kh * kw * Cin]^T x [K, Cout] product over their input patches, and the
    input gradient a [K, Cout] x [Cout, kh * kw * Cin] product scattered back
    onto the patches: the same sums in another order (float32 round-off).
    When more than ``dense_fraction`` of the positions carry a gradient the
    dense kernels are used.

    x: [N, H, W, Cin]; kernel: [kh, kw, Cin, Cout] (odd kh, kw); bias: [Cout].
    Returns [N, H, W, Cout].
    """
    kh, kw, cin, cout = kernel.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    offsets = tf.constant([[0, i, j] for i in range(kh) for j in range(kw)], tf.int64)

    @tf.custom_gradient
    def conv(x, kernel, bias):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.convolution(x, kernel, padding="SAME"), bias))

        def grad(dy):
            dz = tf.raw_ops.ReluGrad(gradients=dy, features=y)
            dbias = tf.reduce_sum(dz, axis=[0, 1, 2])
            where = tf.where(tf.reduce_any(tf.not_equal(dz, 0), axis=-1))   # [K, (n, i, j)]
            count = tf.shape(where)[0]
            shape = tf.shape(x)
            positions = shape[0] * shape[1] * shape[2]

            def sparse():
                dzk = tf.gather_nd(dz, where)                                  # [K, Cout]
                padded = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
                # Patch element (i, j) of output (n, y, x) is padded[n, y+i, x+j].
                taps = where[:, None, :] + offsets[None]                       # [K, kh*kw, 3]
                patches = tf.reshape(tf.gather_nd(padded, taps), [count, kh * kw * cin])
                dkernel = tf.reshape(tf.matmul(patches, dzk, transpose_a=True),
                                     [kh, kw, cin, cout])
                dpatches = tf.matmul(dzk, tf.reshape(kernel, [kh * kw * cin, cout]),
                                     transpose_b=True)
                dpadded = tf.scatter_nd(tf.reshape(taps, [-1, 3]),
                                        tf.reshape(dpatches, [-1, cin]),
                                        tf.shape(padded, out_type=tf.int64))
                dx = dpadded[:, ph:ph + shape[1], pw:pw + shape[2], :]
                return dx, dkernel

            def dense():
                strides = [1, 1, 1, 1]
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=shape, filter=kernel, out_backprop=dz, strides=strides,
                    padding="SAME")
                dkernel = tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(kernel), out_backprop=dz, strides=strides,
                    padding="SAME")
                return dx, dkernel

            use_sparse = tf.cast(count, tf.float32) <= dense_fraction * tf.cast(positions,
                                                                                  tf.float32)
            dx, dkernel = tf.cond(use_sparse, sparse, dense)
            return dx, dkernel, dbias

        return y, grad

    return conv(x, kernel, bias)


@keras.saving.register_keras_serializable(package="mrcnn")
class SparseGradConv2D(KL.Conv2D):
    """Conv2D (stride 1, "same", odd kernel, ReLU) whose training gradient is
    computed only at the output positions that receive one (see
    `_conv_relu_sparse_grad`): rpn_conv_shared, where the RPN losses touch a
    few hundred of the thousands of positions (about 5% at 256x256 in the
    shapes benchmark; at most 0.4% at 1024x1024 with the default sampling).

    Same weights, names and forward outputs as KL.Conv2D; at inference (or
    any other configuration) it is KL.Conv2D.

    Input: [batch, height, width, channels]. Output: [batch, height, width,
    filters].
    """

    # Above this fraction of positions with a gradient, the dense kernels win.
    dense_fraction = 0.25

    def _sparse_ok(self):
        kh, kw = self.kernel_size
        return (self.padding == "same" and tuple(self.strides) == (1, 1)
                and tuple(self.dilation_rate) == (1, 1) and kh % 2 == 1 and kw % 2 == 1
                and self.groups == 1 and self.use_bias and self.data_format == "channels_last"
                and self.activation is keras.activations.relu)

    def call(self, inputs, training=None):
        if not training or not self._sparse_ok():
            return super().call(inputs)
        kernel = tf.cast(self.kernel, inputs.dtype)
        bias = tf.cast(self.bias, inputs.dtype)
        return _conv_relu_sparse_grad(inputs, kernel, bias, self.dense_fraction)


SparseGradConv2D.__name__ = SparseGradConv2D.__qualname__ = "Conv2D"


def build_rpn_model(anchor_stride, anchors_per_location, depth):
    """The RPN as a Keras model shared by all pyramid levels.

    Input: a feature map [batch, height, width, depth].
    Outputs:
        rpn_class_logits: [batch, h * w * anchors, 2] (bg, fg) logits.
        rpn_probs: [batch, h * w * anchors, 2] softmax of the logits.
        rpn_bbox: [batch, h * w * anchors, (dy, dx, log(dh), log(dw))].
    Anchors of a cell are contiguous, cells in row-major order, matching
    utils.generate_anchors.
    Under a mixed-precision policy the shared conv runs in float16/bfloat16
    and the two 1x1 output convs (and so all three outputs) in float32.
    """
    feature_map = KL.Input(shape=[None, None, depth], name="input_rpn_feature_map")
    shared = SparseGradConv2D(2 * depth, (3, 3), padding="same", activation="relu",
                              strides=anchor_stride, name="rpn_conv_shared")(feature_map)
    x = KL.Conv2D(2 * anchors_per_location, (1, 1), padding="valid",
                  activation="linear", name="rpn_class_raw", dtype="float32")(shared)
    rpn_class_logits = AnchorsReshape(2)(x)
    rpn_probs = KL.Activation("softmax", name="rpn_class_xxx", dtype="float32")(
        rpn_class_logits)
    x = KL.Conv2D(anchors_per_location * 4, (1, 1), padding="valid",
                  activation="linear", name="rpn_bbox_pred", dtype="float32")(shared)
    rpn_bbox = AnchorsReshape(4)(x)
    return keras.Model([feature_map], [rpn_class_logits, rpn_probs, rpn_bbox], name="rpn_model")


def fpn_classifier_graph(rois, feature_maps, image_meta, pool_size, num_classes,
                         train_bn=True, fc_layers_size=1024):
    """Box/class head: RoIAlign (pool_size) -> two "FC" layers (a
    pool_size x pool_size conv then a 1x1 conv, each with BN and ReLU) ->
    class logits and class-specific box deltas.

    rois: [batch, num_rois, 4] normalised; feature_maps: [P2, P3, P4, P5].
    Returns:
        logits: [batch, num_rois, num_classes]
        probs: [batch, num_rois, num_classes]
        bbox_deltas: [batch, num_rois, num_classes, (dy, dx, log(dh), log(dw))]
    All three are float32 under a mixed-precision policy (the output
    layers compute in float32).
    """
    num_rois = rois.shape[1]
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_classifier")(
        [rois, image_meta] + feature_maps)
    x = FoldRois()(x)
    x = WindowConv2D(fc_layers_size, (pool_size, pool_size), padding="valid",
                     name="mrcnn_class_conv1")(x)
    x = BatchNorm(train_bn=train_bn, name="mrcnn_class_bn1")(x)
    x = KL.Activation("relu")(x)
    x = WindowConv2D(fc_layers_size, (1, 1), name="mrcnn_class_conv2")(x)
    x = BatchNorm(train_bn=train_bn, name="mrcnn_class_bn2")(x)
    x = KL.Activation("relu")(x)
    shared = UnfoldRois(num_rois, name="pool_squeeze")(KL.Reshape((fc_layers_size,))(x))
    mrcnn_class_logits = KL.Dense(num_classes, name="mrcnn_class_logits",
                                  dtype="float32")(shared)
    mrcnn_probs = KL.Activation("softmax", name="mrcnn_class", dtype="float32")(
        mrcnn_class_logits)
    x = KL.Dense(num_classes * 4, activation="linear", name="mrcnn_bbox_fc",
                 dtype="float32")(shared)
    mrcnn_bbox = KL.Reshape((num_rois, num_classes, 4), name="mrcnn_bbox", dtype="float32")(x)
    return mrcnn_class_logits, mrcnn_probs, mrcnn_bbox


@keras.saving.register_keras_serializable(package="mrcnn")
class ValidRows(KL.Layer):
    """[batch, rois] bool -> int64 [P]: the rows of the folded [batch * rois]
    axis whose RoI is valid (a positive training RoI, a detection), at least
    one (row 0 when none is: empty batches trip some fused CPU kernels)."""

    def call(self, valid):
        flat = tf.reshape(tf.cast(valid, tf.bool), [-1])
        first = tf.equal(tf.range(tf.size(flat)), 0)
        flat = tf.logical_or(flat, tf.logical_and(first, tf.logical_not(tf.reduce_any(flat))))
        return tf.where(flat)[:, 0]

    def compute_output_spec(self, valid):
        return keras.KerasTensor((None,), dtype="int64")


@keras.saving.register_keras_serializable(package="mrcnn")
class GatherRows(_Reshaper):
    """([N, ...], rows [P]) -> [P, ...]."""

    def call(self, inputs):
        x, rows = inputs
        return tf.gather(x, rows)

    def compute_output_spec(self, inputs):
        x, _ = inputs
        return keras.KerasTensor((None,) + tuple(x.shape[1:]), dtype=x.dtype)


@keras.saving.register_keras_serializable(package="mrcnn")
class ScatterRows(_Reshaper):
    """([P, ...], rows [P], valid [batch, rois]) -> [batch * rois, ...] with
    zeros in the rows not computed."""

    def call(self, inputs):
        x, rows, valid = inputs
        # Row 0 stands in when no row is valid: its values are dropped.
        keep = tf.gather(tf.reshape(tf.cast(valid, x.dtype), [-1]), rows)
        x = x * tf.reshape(keep, [-1] + [1] * (len(x.shape) - 1))
        shape = tf.concat([tf.reshape(tf.size(valid, out_type=tf.int64), [1]),
                           tf.shape(x, out_type=tf.int64)[1:]], axis=0)
        return tf.scatter_nd(rows[:, None], x, shape)

    def compute_output_spec(self, inputs):
        x, _, valid = inputs
        n = (valid.shape[0] * valid.shape[1]
             if valid.shape[0] is not None and valid.shape[1] is not None else None)
        return keras.KerasTensor((n,) + tuple(x.shape[1:]), dtype=x.dtype)


def build_fpn_mask_graph(rois, feature_maps, image_meta, pool_size, num_classes,
                         train_bn=True, channels=256, valid=None):
    """Mask head: RoIAlign (pool_size) -> four 3x3 convs (BN, ReLU) -> 2x2
    stride-2 transposed conv -> 1x1 conv with a sigmoid per class.

    rois: [batch, num_rois, 4] normalised; feature_maps: [P2, P3, P4, P5].
    valid: optional [batch, num_rois] bool: the convolutions then run only on
        the valid RoIs (the positive training RoIs, the real detections) and
        the other rows of the output are 0. The padding rows are ignored
        downstream (mask loss, unmolding), so this changes no result, only
        the work: most images have fewer objects than the slots.
    Returns [batch, num_rois, 2 * pool_size, 2 * pool_size, num_classes],
    float32 (the final 1x1 conv and sigmoid compute in float32 under a
    mixed-precision policy).
    """
    num_rois = rois.shape[1]
    x = PyramidROIAlign([pool_size, pool_size], name="roi_align_mask")(
        [rois, image_meta] + feature_maps)
    x = FoldRois()(x)
    if valid is not None:
        rows = ValidRows()(valid)
        x = GatherRows()([x, rows])
    for i in range(1, 5):
        x = KL.Conv2D(channels, (3, 3), padding="same", name="mrcnn_mask_conv{}".format(i))(x)
        x = BatchNorm(train_bn=train_bn, name="mrcnn_mask_bn{}".format(i))(x)
        x = KL.Activation("relu")(x)
    x = KL.Conv2DTranspose(channels, (2, 2), strides=2, activation="relu",
                           name="mrcnn_mask_deconv")(x)
    x = KL.Conv2D(num_classes, (1, 1), strides=1, activation="sigmoid", name="mrcnn_mask",
                  dtype="float32")(x)
    if valid is not None:
        x = ScatterRows()([x, rows, valid])
    return UnfoldRois(num_rois)(x)
