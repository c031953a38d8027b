"""Backbone: ResNet-50/101 stages C1..C5 and the Feature Pyramid Network.

Layer names follow matterport's Mask_RCNN (``conv1``, ``bn_conv1``,
``res2a_branch2a``, ``bn2a_branch2a``, ..., ``fpn_c5p5``, ``fpn_p2``, ...)
because weight files are matched to layers by name.
"""

import contextlib

import keras
import tensorflow as tf
from keras import layers as KL

# Defaults of the BatchNorm layers being built (see batch_norm_options).
_BN_DEFAULTS = {"synchronized": False}


@contextlib.contextmanager
def batch_norm_options(synchronized=False):
    """BatchNorm layers built inside this context compute their training
    statistics across all replicas of the tf.distribute strategy when
    `synchronized` (Config.SYNC_BATCH_NORM; no effect on frozen BN)."""
    previous = dict(_BN_DEFAULTS)
    _BN_DEFAULTS["synchronized"] = bool(synchronized)
    try:
        yield
    finally:
        _BN_DEFAULTS.update(previous)


@keras.saving.register_keras_serializable(package="mrcnn")
class BatchNorm(KL.BatchNormalization):
    """BatchNormalization whose mode can be pinned by the config.

    train_bn: None follows the `training` flag of the call (normal BN);
        False always uses the moving statistics (frozen BN, the default with
        small batches); True always uses batch statistics.
    Keras 3 passes the model's `training` flag to every layer, so the pinned
    mode is enforced here rather than at graph construction.
    momentum: of the moving statistics; 0.9 (PyTorch's 0.1) rather than
        Keras' 0.99 so that BN trained from scratch for a few hundred steps
        has usable statistics at inference. Irrelevant with frozen BN.
    """

    def __init__(self, train_bn=None, momentum=0.9, **kwargs):
        if _BN_DEFAULTS["synchronized"] and train_bn is not False:
            kwargs.setdefault("synchronized", True)
        super().__init__(momentum=momentum, **kwargs)
        self.train_bn = train_bn

    def call(self, inputs, training=None):
        if self.train_bn is not None:
            training = self.train_bn
        if not training and len(inputs.shape) == 4 and self.axis in (-1, 3) \
                and self.center and self.scale:
            # Inference: TF's fused kernel, which grappler folds into the
            # preceding convolution (Keras 3 would emit separate mul/add ops).
            # Same formula as matterport's tf_keras BatchNormalization used.
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, mean=self.moving_mean,
                variance=self.moving_variance, epsilon=self.epsilon, is_training=False)
            return outputs
        return super().call(inputs, training=training)

    def get_config(self):
        config = super().get_config()
        config["train_bn"] = self.train_bn
        return config


def _bottleneck(input_tensor, kernel_size, filters, stage, block, strides, shortcut_conv,
                use_bias, train_bn):
    """ResNet bottleneck block; with `shortcut_conv` the shortcut is a
    strided 1x1 conv + BN (matterport's conv_block), else identity."""
    f1, f2, f3 = filters
    conv_name = "res{}{}_branch".format(stage, block)
    bn_name = "bn{}{}_branch".format(stage, block)
    x = KL.Conv2D(f1, (1, 1), strides=strides, name=conv_name + "2a",
                  use_bias=use_bias)(input_tensor)
    x = BatchNorm(train_bn=train_bn, name=bn_name + "2a")(x)
    x = KL.Activation("relu")(x)
    x = KL.Conv2D(f2, (kernel_size, kernel_size), padding="same",
                  name=conv_name + "2b", use_bias=use_bias)(x)
    x = BatchNorm(train_bn=train_bn, name=bn_name + "2b")(x)
    x = KL.Activation("relu")(x)
    x = KL.Conv2D(f3, (1, 1), name=conv_name + "2c", use_bias=use_bias)(x)
    x = BatchNorm(train_bn=train_bn, name=bn_name + "2c")(x)
    if shortcut_conv:
        shortcut = KL.Conv2D(f3, (1, 1), strides=strides, name=conv_name + "1",
                             use_bias=use_bias)(input_tensor)
        shortcut = BatchNorm(train_bn=train_bn, name=bn_name + "1")(shortcut)
    else:
        shortcut = input_tensor
    x = KL.Add()([x, shortcut])
    return KL.Activation("relu", name="res{}{}_out".format(stage, block))(x)


def identity_block(input_tensor, kernel_size, filters, stage, block,
                   use_bias=True, train_bn=True):
    """Bottleneck block with an identity shortcut."""
    return _bottleneck(input_tensor, kernel_size, filters, stage, block, (1, 1),
                       False, use_bias, train_bn)


def conv_block(input_tensor, kernel_size, filters, stage, block,
               strides=(2, 2), use_bias=True, train_bn=True):
    """Bottleneck block with a strided 1x1 conv shortcut (first block of a stage)."""
    return _bottleneck(input_tensor, kernel_size, filters, stage, block, strides,
                       True, use_bias, train_bn)


RESNET_STAGE4_BLOCKS = {"resnet50": 5, "resnet101": 22}

# Basic-block ResNets (He et al. 2016): blocks per stage 2..5. Lighter
# backbones for small images and CPU training; no matterport weights exist
# for them.
BASIC_RESNET_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


def basic_block(input_tensor, filters, stage, block, strides=(1, 1), train_bn=True):
    """Two 3x3 convs with BN; a strided 1x1 conv shortcut when the shape changes."""
    conv_name = "res{}{}_branch".format(stage, block)
    bn_name = "bn{}{}_branch".format(stage, block)
    x = KL.Conv2D(filters, (3, 3), strides=strides, padding="same", name=conv_name + "2a")(
        input_tensor)
    x = BatchNorm(train_bn=train_bn, name=bn_name + "2a")(x)
    x = KL.Activation("relu")(x)
    x = KL.Conv2D(filters, (3, 3), padding="same", name=conv_name + "2b")(x)
    x = BatchNorm(train_bn=train_bn, name=bn_name + "2b")(x)
    shortcut = input_tensor
    if strides != (1, 1) or input_tensor.shape[-1] != filters:
        shortcut = KL.Conv2D(filters, (1, 1), strides=strides, name=conv_name + "1")(input_tensor)
        shortcut = BatchNorm(train_bn=train_bn, name=bn_name + "1")(shortcut)
    x = KL.Add()([x, shortcut])
    return KL.Activation("relu", name="res{}{}_out".format(stage, block))(x)


def basic_resnet_graph(input_image, architecture, stage5=True, train_bn=True):
    """ResNet-18/34 stages [C1, C2, C3, C4, C5] (64, 64, 128, 256, 512 channels)."""
    x = KL.ZeroPadding2D((3, 3))(input_image)
    x = KL.Conv2D(64, (7, 7), strides=(2, 2), name="conv1", use_bias=True)(x)
    x = BatchNorm(train_bn=train_bn, name="bn_conv1")(x)
    x = KL.Activation("relu")(x)
    C1 = x = KL.MaxPooling2D((3, 3), strides=(2, 2), padding="same")(x)
    stages = [C1]
    for stage, (blocks, filters) in enumerate(
            zip(BASIC_RESNET_BLOCKS[architecture], (64, 128, 256, 512)), start=2):
        if stage == 5 and not stage5:
            stages.append(None)
            break
        for i in range(blocks):
            strides = (2, 2) if i == 0 and stage > 2 else (1, 1)
            x = basic_block(x, filters, stage, chr(97 + i), strides, train_bn)
        stages.append(x)
    return stages


def resnet_graph(input_image, architecture, stage5=False, train_bn=True):
    """ResNet stages on a Keras tensor.

    input_image: [batch, height, width, channels].
    architecture: "resnet50" or "resnet101" (bottleneck blocks, matterport's
        layer names and weights), or "resnet18" / "resnet34" (basic blocks).
    stage5: build stage 5 (else C5 is None).
    train_bn: see BatchNorm.
    Returns [C1, C2, C3, C4, C5] with strides 4 (C1 after max-pool), 4, 8,
    16 and 32 and 64, 256, 512, 1024, 2048 channels.
    """
    if architecture in BASIC_RESNET_BLOCKS:
        return basic_resnet_graph(input_image, architecture, stage5, train_bn)
    if architecture not in RESNET_STAGE4_BLOCKS:
        raise ValueError("resnet_graph: architecture {!r} is not one of {}".format(
            architecture, ", ".join(list(RESNET_STAGE4_BLOCKS) + list(BASIC_RESNET_BLOCKS))))
    # Stage 1
    x = KL.ZeroPadding2D((3, 3))(input_image)
    x = KL.Conv2D(64, (7, 7), strides=(2, 2), name="conv1", use_bias=True)(x)
    x = BatchNorm(train_bn=train_bn, name="bn_conv1")(x)
    x = KL.Activation("relu")(x)
    C1 = x = KL.MaxPooling2D((3, 3), strides=(2, 2), padding="same")(x)
    # Stage 2
    x = conv_block(x, 3, [64, 64, 256], stage=2, block="a", strides=(1, 1), train_bn=train_bn)
    x = identity_block(x, 3, [64, 64, 256], stage=2, block="b", train_bn=train_bn)
    C2 = x = identity_block(x, 3, [64, 64, 256], stage=2, block="c", train_bn=train_bn)
    # Stage 3
    x = conv_block(x, 3, [128, 128, 512], stage=3, block="a", train_bn=train_bn)
    for block in "bcd":
        x = identity_block(x, 3, [128, 128, 512], stage=3, block=block, train_bn=train_bn)
    C3 = x
    # Stage 4
    x = conv_block(x, 3, [256, 256, 1024], stage=4, block="a", train_bn=train_bn)
    for i in range(RESNET_STAGE4_BLOCKS[architecture]):
        x = identity_block(x, 3, [256, 256, 1024], stage=4, block=chr(98 + i),
                           train_bn=train_bn)
    C4 = x
    # Stage 5
    if stage5:
        x = conv_block(x, 3, [512, 512, 2048], stage=5, block="a", train_bn=train_bn)
        x = identity_block(x, 3, [512, 512, 2048], stage=5, block="b", train_bn=train_bn)
        C5 = identity_block(x, 3, [512, 512, 2048], stage=5, block="c", train_bn=train_bn)
    else:
        C5 = None
    return [C1, C2, C3, C4, C5]


def fpn_graph(C2, C3, C4, C5, pyramid_size=256):
    """Feature Pyramid Network on the backbone stages.

    Top-down: P5 = 1x1(C5), Pk = upsample2x(Pk+1) + 1x1(Ck); then a 3x3
    conv on each of P2..P5 and P6 = stride-2 subsample of P5.
    Returns [P2, P3, P4, P5, P6], each with `pyramid_size` channels.
    """
    P5 = KL.Conv2D(pyramid_size, (1, 1), name="fpn_c5p5")(C5)
    P4 = KL.Add(name="fpn_p4add")([
        KL.UpSampling2D(size=(2, 2), name="fpn_p5upsampled")(P5),
        KL.Conv2D(pyramid_size, (1, 1), name="fpn_c4p4")(C4)])
    P3 = KL.Add(name="fpn_p3add")([
        KL.UpSampling2D(size=(2, 2), name="fpn_p4upsampled")(P4),
        KL.Conv2D(pyramid_size, (1, 1), name="fpn_c3p3")(C3)])
    P2 = KL.Add(name="fpn_p2add")([
        KL.UpSampling2D(size=(2, 2), name="fpn_p3upsampled")(P3),
        KL.Conv2D(pyramid_size, (1, 1), name="fpn_c2p2")(C2)])
    P2 = KL.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p2")(P2)
    P3 = KL.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p3")(P3)
    P4 = KL.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p4")(P4)
    P5 = KL.Conv2D(pyramid_size, (3, 3), padding="same", name="fpn_p5")(P5)
    P6 = KL.MaxPooling2D(pool_size=(1, 1), strides=2, name="fpn_p6")(P5)
    return [P2, P3, P4, P5, P6]
