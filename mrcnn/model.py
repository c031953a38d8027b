"""Mask R-CNN model facade with matterport's API.

    model = MaskRCNN(mode="training", config=config, model_dir=MODEL_DIR)
    model.load_weights(COCO_WEIGHTS, by_name=True,
                       exclude=["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"])
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE,
                epochs=1, layers="heads")

    model = MaskRCNN(mode="inference", config=inference_config, model_dir=MODEL_DIR)
    model.load_weights(model.find_last(), by_name=True)
    r = model.detect([image])[0]   # rois, class_ids, scores, masks

The pipeline, module by module: data (mrcnn.data) -> backbone/FPN
(mrcnn.backbone) -> RPN (mrcnn.heads) -> proposals (mrcnn.layers.proposal)
-> RoIAlign (mrcnn.layers.roi_align) -> heads (mrcnn.heads) -> detections
(mrcnn.layers.detection) -> losses (mrcnn.losses). This module wires them.
"""

import datetime
import logging
import os
import re
from collections import OrderedDict

import keras
import numpy as np
import tensorflow as tf
from keras import layers as KL

from mrcnn import distribute as dist
from mrcnn import losses as L
from mrcnn import utils
from mrcnn import weights as weight_io
from mrcnn.backbone import (BatchNorm, batch_norm_options, fpn_graph,  # noqa: F401
                            resnet_graph)
from mrcnn.config import Config
from mrcnn.data.pipeline import (build_rpn_targets, data_generator,  # noqa: F401
                                 load_image_gt, make_tf_dataset)
from mrcnn.heads import build_fpn_mask_graph, build_rpn_model, fpn_classifier_graph
from mrcnn.layers import (DetectionLayer, DetectionTargetLayer,  # noqa: F401
                          ProposalLayer, PyramidROIAlign)
from mrcnn import molding
from mrcnn.molding import (compose_image_meta, compute_backbone_shapes,  # noqa: F401
                           mold_image, parse_image_meta, parse_image_meta_graph,
                           unmold_detections, unmold_image)
from mrcnn.ops import norm_boxes_graph
from mrcnn.training import (CONFIG_FILE, LAYER_REGEX, EpochCheckpoint, Trainer,  # noqa: F401
                            make_optimizer)

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "mask_rcnn.h5"
CLASS_NAMES_FILE = "class_names.json"


def log(text, array=None):
    """Print a message, with the shape, range and dtype of `array` if given."""
    if array is not None:
        array = np.asarray(array)
        text = text.ljust(25)
        text += "shape: {:20}  ".format(str(array.shape))
        if array.size:
            text += "min: {:10.5f}  max: {:10.5f}".format(array.min(), array.max())
        else:
            text += "min: {:10}  max: {:10}".format("", "")
        text += "  {}".format(array.dtype)
    print(text)


############################################################
#  Small graph layers
############################################################

class _Float32Layer(KL.Layer):
    """A graph layer that always computes in float32 (box coordinates,
    metas, targets, losses), whatever the mixed-precision policy."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)


class _ConstantAnchors(_Float32Layer):
    """The training model's anchors: a constant [batch, anchors, 4]."""

    def __init__(self, anchors, **kwargs):
        super().__init__(**kwargs)
        self.anchors = np.asarray(anchors, np.float32)

    def call(self, image):
        anchors = tf.constant(self.anchors)
        return tf.broadcast_to(anchors[None], [tf.shape(image)[0]] + list(self.anchors.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.anchors.shape


class _NormBoxes(_Float32Layer):
    """Pixel boxes [batch, N, 4] -> normalised, for the image's size."""

    def call(self, inputs):
        boxes, image = inputs
        return norm_boxes_graph(tf.cast(boxes, tf.float32), tf.shape(image)[1:3])


class _ParseActiveClassIds(_Float32Layer):
    def call(self, image_meta):
        return image_meta[:, 12:]


class _Identity(_Float32Layer):
    def call(self, x):
        return tf.identity(x)


class _FirstRois(_Float32Layer):
    """x[:, :count]: the first `count` RoIs of each image."""

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, x):
        return x[:, :self.count]

    def compute_output_spec(self, x):
        return keras.KerasTensor((x.shape[0], self.count) + tuple(x.shape[2:]), dtype=x.dtype)


class _DetectionBoxes(_Float32Layer):
    def call(self, detections):
        return detections[..., :4]


class _DetectionClassIds(_Float32Layer):
    def call(self, detections):
        return detections[..., 4]


class _Positive(_Float32Layer):
    """x > 0 (class ids: real RoIs / detections), as bool."""

    def call(self, x):
        return tf.greater(x, 0)

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="bool")


class _LossLayer(_Float32Layer):
    """Wraps one of mrcnn.losses as a layer with a scalar output."""

    def __init__(self, loss_fn, **kwargs):
        super().__init__(**kwargs)
        self.loss_fn = loss_fn

    def call(self, inputs):
        return self.loss_fn(*inputs)

    def compute_output_shape(self, input_shape):
        return ()


############################################################
#  MaskRCNN
############################################################

def read_class_names(directory):
    """The class names saved beside a model (`MaskRCNN.save(class_names=)`),
    or None if there are none."""
    from mrcnn.data.annotations import read_json
    path = os.path.join(directory, CLASS_NAMES_FILE)
    if not os.path.exists(path):
        return None
    names = read_json(path, what="class names file")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("{}: expected a JSON list of class names".format(path))
    return names


class MaskRCNN(object):
    """Mask R-CNN: builds the Keras model and runs training and detection.

    mode: "training" or "inference".
    config: a Config subclass instance.
    model_dir: directory for training logs and checkpoints.
    strategy: a tf.distribute strategy to build and train under (training
        mode). None: mrcnn.distribute.make_strategy(config) decides
        (MultiWorkerMirroredStrategy when TF_CONFIG names several tasks,
        MirroredStrategy when GPU_COUNT > 1, else one device).
    The Keras model is `self.keras_model`; with config.MIXED_PRECISION it
    computes in float16/bfloat16 but its inputs and outputs stay float32.
    """

    def __init__(self, mode, config, model_dir, strategy=None):
        if mode not in ("training", "inference"):
            raise ValueError("mode must be 'training' or 'inference', got {!r}".format(mode))
        if not isinstance(config, Config):
            raise ValueError("config must be a mrcnn.config.Config instance, got {!r}".format(
                type(config).__name__))
        config.validate(require_classes=True)
        self.mode = mode
        self.config = config
        self.model_dir = model_dir
        self.set_log_dir()
        if strategy is None and mode == "training":
            strategy = dist.make_strategy(config)
        self.strategy = strategy
        with dist.scope(strategy):
            self.keras_model = self.build(mode=mode, config=config)
        self._predict_fn = None
        # Names by class id when known (from_directory reads them).
        self.class_names = None

    # ------------------------------------------------------------------
    # Graph
    # ------------------------------------------------------------------
    def build(self, mode, config):
        """Build the Keras model of `mode` (see the module docstring), under
        config.MIXED_PRECISION's dtype policy when set."""
        with dist.precision_scope(config.MIXED_PRECISION), \
                batch_norm_options(synchronized=config.SYNC_BATCH_NORM):
            return self._build(mode, config)

    def _build(self, mode, config):
        h, w = config.IMAGE_SHAPE[:2]
        if h % 64 or w % 64:
            raise ValueError("IMAGE_SHAPE {} must be divisible by 64 (the backbone halves "
                             "it 6 times); use e.g. 256, 320, 384, 448, 512".format(
                                 list(config.IMAGE_SHAPE)))
        input_image = KL.Input(shape=[None, None, int(config.IMAGE_SHAPE[2])],
                               name="input_image")
        input_image_meta = KL.Input(shape=[config.IMAGE_META_SIZE], name="input_image_meta")
        if mode == "training":
            input_rpn_match = KL.Input(shape=[None, 1], name="input_rpn_match", dtype="int32")
            input_rpn_bbox = KL.Input(shape=[None, 4], name="input_rpn_bbox", dtype="float32")
            input_gt_class_ids = KL.Input(shape=[None], name="input_gt_class_ids",
                                          dtype="int32")
            input_gt_boxes = KL.Input(shape=[None, 4], name="input_gt_boxes", dtype="float32")
            gt_boxes = _NormBoxes()([input_gt_boxes, input_image])
            mask_hw = (config.MINI_MASK_SHAPE if config.USE_MINI_MASK
                       else config.IMAGE_SHAPE[:2])
            input_gt_masks = KL.Input(shape=[int(mask_hw[0]), int(mask_hw[1]), None],
                                      name="input_gt_masks", dtype="bool")
        else:
            input_anchors = KL.Input(shape=[None, 4], name="input_anchors")

        # Backbone and feature pyramid.
        if callable(config.BACKBONE):
            _, C2, C3, C4, C5 = config.BACKBONE(input_image, stage5=True,
                                                train_bn=config.TRAIN_BN)
        else:
            _, C2, C3, C4, C5 = resnet_graph(input_image, config.BACKBONE, stage5=True,
                                             train_bn=config.TRAIN_BN)
        P2, P3, P4, P5, P6 = fpn_graph(C2, C3, C4, C5, config.TOP_DOWN_PYRAMID_SIZE)
        rpn_feature_maps = [P2, P3, P4, P5, P6]
        mrcnn_feature_maps = [P2, P3, P4, P5]

        if mode == "training":
            anchors = _ConstantAnchors(self.get_anchors(config.IMAGE_SHAPE),
                                       name="anchors")(input_image)
        else:
            anchors = input_anchors

        # Region proposal network, shared over the levels.
        rpn = build_rpn_model(config.RPN_ANCHOR_STRIDE, len(config.RPN_ANCHOR_RATIOS),
                              config.TOP_DOWN_PYRAMID_SIZE)
        level_outputs = [rpn([p]) for p in rpn_feature_maps]
        rpn_class_logits, rpn_class, rpn_bbox = [
            KL.Concatenate(axis=1, name=n, dtype="float32")(list(o))
            for o, n in zip(zip(*level_outputs), ["rpn_class_logits", "rpn_class", "rpn_bbox"])]

        proposal_count = (config.POST_NMS_ROIS_TRAINING if mode == "training"
                          else config.POST_NMS_ROIS_INFERENCE)
        rpn_rois = ProposalLayer(proposal_count=proposal_count,
                                 nms_threshold=config.RPN_NMS_THRESHOLD,
                                 name="ROI", config=config)([rpn_class, rpn_bbox, anchors])

        if mode == "training":
            if not config.USE_RPN_ROIS:
                raise NotImplementedError("USE_RPN_ROIS = False (externally generated RoIs) "
                                          "is not supported")
            active_class_ids = _ParseActiveClassIds()(input_image_meta)
            rois, target_class_ids, target_bbox, target_mask = DetectionTargetLayer(
                config, name="proposal_targets")(
                [rpn_rois, input_gt_class_ids, gt_boxes, input_gt_masks])
            mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_graph(
                rois, mrcnn_feature_maps, input_image_meta, config.POOL_SIZE,
                config.NUM_CLASSES, train_bn=config.TRAIN_BN,
                fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
            # DetectionTargetLayer puts the positive RoIs first and caps them at
            # TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO; only they have a mask
            # loss, so the mask head runs on that many RoIs, not all of them.
            # Of those, the mask convolutions run on the real positives only.
            positive_rois = max(1, int(config.TRAIN_ROIS_PER_IMAGE * config.ROI_POSITIVE_RATIO))
            mask_rois = _FirstRois(positive_rois)(rois)
            mask_target = _FirstRois(positive_rois)(target_mask)
            mask_class_ids = _FirstRois(positive_rois)(target_class_ids)
            mrcnn_mask = build_fpn_mask_graph(
                mask_rois, mrcnn_feature_maps, input_image_meta, config.MASK_POOL_SIZE,
                config.NUM_CLASSES, train_bn=config.TRAIN_BN,
                channels=config.TOP_DOWN_PYRAMID_SIZE, valid=_Positive()(mask_class_ids))
            output_rois = _Identity(name="output_rois")(rois)

            rpn_class_loss = _LossLayer(L.rpn_class_loss_graph, name="rpn_class_loss")(
                [input_rpn_match, rpn_class_logits])
            rpn_bbox_loss = _LossLayer(lambda *x: L.rpn_bbox_loss_graph(config, *x),
                                       name="rpn_bbox_loss")(
                [input_rpn_bbox, input_rpn_match, rpn_bbox])
            class_loss = _LossLayer(L.mrcnn_class_loss_graph, name="mrcnn_class_loss")(
                [target_class_ids, mrcnn_class_logits, active_class_ids])
            bbox_loss = _LossLayer(L.mrcnn_bbox_loss_graph, name="mrcnn_bbox_loss")(
                [target_bbox, target_class_ids, mrcnn_bbox])
            mask_loss = _LossLayer(L.mrcnn_mask_loss_graph, name="mrcnn_mask_loss")(
                [mask_target, mask_class_ids, mrcnn_mask])

            inputs = [input_image, input_image_meta, input_rpn_match, input_rpn_bbox,
                      input_gt_class_ids, input_gt_boxes, input_gt_masks]
            outputs = [rpn_class_logits, rpn_class, rpn_bbox,
                       mrcnn_class_logits, mrcnn_class, mrcnn_bbox, mrcnn_mask,
                       rpn_rois, output_rois,
                       rpn_class_loss, rpn_bbox_loss, class_loss, bbox_loss, mask_loss]
            return keras.Model(inputs, outputs, name="mask_rcnn")

        mrcnn_class_logits, mrcnn_class, mrcnn_bbox = fpn_classifier_graph(
            rpn_rois, mrcnn_feature_maps, input_image_meta, config.POOL_SIZE,
            config.NUM_CLASSES, train_bn=config.TRAIN_BN,
            fc_layers_size=config.FPN_CLASSIF_FC_LAYERS_SIZE)
        detections = DetectionLayer(config, name="mrcnn_detection")(
            [rpn_rois, mrcnn_class, mrcnn_bbox, input_image_meta])
        detection_boxes = _DetectionBoxes()(detections)
        # Masks are computed for the real detections only (class id > 0);
        # the padding rows of mrcnn_mask are 0.
        mrcnn_mask = build_fpn_mask_graph(
            detection_boxes, mrcnn_feature_maps, input_image_meta, config.MASK_POOL_SIZE,
            config.NUM_CLASSES, train_bn=config.TRAIN_BN, channels=config.TOP_DOWN_PYRAMID_SIZE,
            valid=_Positive()(_DetectionClassIds()(detections)))
        return keras.Model([input_image, input_image_meta, input_anchors],
                           [detections, mrcnn_class, mrcnn_bbox, mrcnn_mask,
                            rpn_rois, rpn_class, rpn_bbox], name="mask_rcnn")

    # ------------------------------------------------------------------
    # Weights and directories
    # ------------------------------------------------------------------
    def find_last(self):
        """Path of the last checkpoint of the last training run in model_dir."""
        if not os.path.isdir(self.model_dir):
            raise FileNotFoundError("Could not find model directory under {}".format(
                self.model_dir))
        key = self.config.NAME.lower()
        dir_names = sorted(d for d in next(os.walk(self.model_dir))[1] if d.startswith(key))
        if not dir_names:
            raise FileNotFoundError("Could not find model directory under {}".format(
                self.model_dir))
        dir_name = os.path.join(self.model_dir, dir_names[-1])
        checkpoints = sorted(f for f in next(os.walk(dir_name))[2]
                             if f.startswith("mask_rcnn") and f.endswith(".h5"))
        if not checkpoints:
            raise FileNotFoundError("Could not find weight files in {}".format(dir_name))
        return os.path.join(dir_name, checkpoints[-1])

    def load_weights(self, filepath, by_name=False, exclude=None, adapt_input_channels=False):
        """Load weights from an HDF5 file (matterport's `.h5` files, old and
        new, or this package's) or from a model directory written by `save`.

        by_name: match layers by name and skip layers absent from the file.
        exclude: layer names to skip (implies by_name=True), e.g.
            ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
            when NUM_CLASSES differs from the file's.
        adapt_input_channels: for IMAGE_CHANNEL_COUNT != 3, convert the
            file's RGB conv1 kernel (True or "repeat", or "zeros"; see
            mrcnn.weights.adapt_conv1 and docs/images.md) instead of failing.
        A file made for another config raises ValueError naming the layer
        and both shapes; nothing is loaded then.
        """
        if os.path.isdir(filepath):
            filepath = os.path.join(filepath, WEIGHTS_FILE)
        if exclude:
            by_name = True
        loaded = weight_io.load_weights(self.keras_model, filepath, by_name=by_name,
                                        exclude=exclude,
                                        adapt_input_channels=adapt_input_channels)
        self.set_log_dir(filepath)
        return loaded

    def save(self, directory, class_names=None):
        """Write the weights and the config to `directory` (loadable with
        `load_weights(directory)` and `MaskRCNN.from_directory`), and the
        class names by class id if given (e.g. `dataset.class_names`; the
        command line's detect and export use them)."""
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != self.config.NUM_CLASSES:
                raise ValueError("save: {} class names for NUM_CLASSES = {}".format(
                    len(class_names), self.config.NUM_CLASSES))
        os.makedirs(directory, exist_ok=True)
        weight_io.save_weights(self.keras_model, os.path.join(directory, WEIGHTS_FILE))
        self.config.save(os.path.join(directory, CONFIG_FILE))
        names_path = os.path.join(directory, CLASS_NAMES_FILE)
        if class_names is not None:
            utils.write_json_atomic(names_path, class_names)
        elif os.path.exists(names_path):
            os.remove(names_path)  # an earlier save's names would not belong to this model
        return directory

    def export(self, export_dir, version=1, full_masks=False, force=False, class_names=None,
               verbose=1):
        """Write a SavedModel for TF Serving to `export_dir/<version>/` (raw
        images in, detections out). See mrcnn.export.export_saved_model."""
        from mrcnn.export import export_saved_model
        return export_saved_model(self, export_dir, version=version, full_masks=full_masks,
                                  force=force, class_names=class_names, verbose=verbose)

    @classmethod
    def from_directory(cls, directory, mode="inference", config=None, model_dir=None,
                       **overrides):
        """Build a model from a directory written by `save`, with its config
        (attributes in `overrides` replace the saved ones; inference uses
        one image per batch by default) and its weights."""
        if config is None:
            values = Config.load(os.path.join(directory, CONFIG_FILE)).to_dict()
            if mode == "inference":
                values.update(GPU_COUNT=1, IMAGES_PER_GPU=1)
            values.update(overrides)
            config = Config.from_dict(values)
        model = cls(mode=mode, config=config, model_dir=model_dir or directory)
        model.load_weights(directory, by_name=True)
        model.class_names = read_class_names(directory)
        return model

    def get_imagenet_weights(self):
        """Download Keras' ImageNet ResNet-50 weights (no top); returns the path."""
        url = ("https://github.com/fchollet/deep-learning-models/releases/download/v0.2/"
               "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
        return keras.utils.get_file("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                    url, cache_subdir="models",
                                    file_hash="a268eb855778b3df3c7506639542a6af")

    def set_log_dir(self, model_path=None):
        """Set the log directory and epoch counter; a checkpoint path of this
        package's (matterport's) naming restarts from its epoch."""
        self.epoch = 0
        now = datetime.datetime.now()
        if model_path:
            regex = (r".*[/\\][\w-]+(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})[/\\]"
                     r"mask\_rcnn\_[\w-]+(\d{4})\.h5")
            m = re.match(regex, str(model_path))
            if m:
                now = datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                        int(m.group(4)), int(m.group(5)))
                self.epoch = int(m.group(6))
                print("Re-starting from epoch %d" % self.epoch)
        name = (self.config.NAME or "mrcnn").lower()
        self.log_dir = os.path.join(self.model_dir, "{}{:%Y%m%dT%H%M}".format(name, now))
        self.checkpoint_path = os.path.join(
            self.log_dir, "mask_rcnn_{}_*epoch*.h5".format(name)).replace("*epoch*",
                                                                          "{epoch:04d}")

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def set_trainable(self, layer_regex, keras_model=None, indent=0, verbose=1):
        """Make the layers whose names fully match `layer_regex` trainable
        and freeze the others (nested models are searched too)."""
        if verbose > 0 and keras_model is None:
            log("Selecting layers to train")
        keras_model = keras_model or self.keras_model
        for layer in keras_model.layers:
            if isinstance(layer, keras.Model):
                if verbose > 0:
                    print("In model: ", layer.name)
                self.set_trainable(layer_regex, keras_model=layer, indent=indent + 4,
                                   verbose=verbose)
                continue
            if not layer.weights:
                continue
            trainable = bool(re.fullmatch(layer_regex, layer.name))
            layer.trainable = trainable
            if trainable and verbose > 1:
                log("{}{:20}   ({})".format(" " * indent, layer.name,
                                            layer.__class__.__name__))

    def use_strategy(self, strategy):
        """Rebuild the Keras model under `strategy`'s scope (its variables
        must be created there), keeping the current weights."""
        if strategy is self.strategy:
            return
        weights = self.keras_model.get_weights()
        with dist.scope(strategy):
            model = self.build(mode=self.mode, config=self.config)
            model.set_weights(weights)
        self.keras_model = model
        self.strategy = strategy
        self._predict_fn = None

    def _make_dataset(self, dataset, shuffle, **kwargs):
        """make_tf_dataset, distributed over self.strategy's replicas: each
        worker loads its own share of the image ids, each replica gets
        IMAGES_PER_GPU images a step."""
        if self.strategy is None:
            return make_tf_dataset(dataset, self.config, shuffle=shuffle, **kwargs)

        def make(batch_size, shard):
            view = dataset if shard is None else dist.DatasetShard(dataset, *shard)
            return make_tf_dataset(view, self.config, shuffle=shuffle,
                                   batch_size=batch_size, **kwargs)
        return dist.distribute_dataset(self.strategy, make, self.config.IMAGES_PER_GPU)

    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers,
              augmentation=None, custom_callbacks=None, no_augmentation_sources=None,
              verbose=1, strategy=None):
        """Train until epoch `epochs` (counting the epochs already done).

        layers: "heads", "3+", "4+", "5+", "all" or a regex of layer names.
        augmentation: callable(image=..., masks=[...]) -> dict, e.g. an
            albumentations Compose with size-preserving transforms.
        custom_callbacks: extra keras callbacks.
        no_augmentation_sources: dataset sources not to augment.
        strategy: a tf.distribute strategy to train under instead of the
            one the model was built with (the model is rebuilt under it,
            keeping its weights). Each replica takes IMAGES_PER_GPU images a
            step: the global batch is IMAGES_PER_GPU x num_replicas_in_sync.
        Checkpoints go to self.log_dir at the end of every epoch (written by
        the chief worker only in a multi-worker run).
        """
        if self.mode != "training":
            raise ValueError("Create the model in training mode to train it.")
        if strategy is not None:
            self.use_strategy(strategy)
        layers = LAYER_REGEX.get(layers, layers)
        train_ds = self._make_dataset(train_dataset, shuffle=True, augmentation=augmentation,
                                      no_augmentation_sources=no_augmentation_sources)
        val_ds = None
        if val_dataset is not None and self.config.VALIDATION_STEPS:
            val_ds = self._make_dataset(val_dataset, shuffle=True)
        chief = dist.is_chief(self.strategy)
        callbacks = []
        if chief:
            os.makedirs(self.log_dir, exist_ok=True)
            callbacks.append(keras.callbacks.TensorBoard(log_dir=self.log_dir, histogram_freq=0,
                                                         write_graph=False))
        callbacks.append(EpochCheckpoint(self.keras_model, self.checkpoint_path, self.config,
                                         chief=chief))
        callbacks += list(custom_callbacks or [])
        if verbose:
            log("\nStarting at epoch {}. LR={}\n".format(self.epoch, learning_rate))
            log("Checkpoint Path: {}".format(self.checkpoint_path))
        self.set_trainable(layers, verbose=verbose)
        with dist.scope(self.strategy):
            trainer = Trainer(self.keras_model, self.config)
            trainer.compile(optimizer=make_optimizer(self.config, learning_rate,
                                                     replicas=dist.replicas(self.strategy)),
                            jit_compile=bool(self.config.XLA))
        history = trainer.fit(train_ds, initial_epoch=self.epoch, epochs=epochs,
                              steps_per_epoch=self.config.STEPS_PER_EPOCH,
                              callbacks=callbacks, validation_data=val_ds, shuffle=False,
                              validation_steps=self.config.VALIDATION_STEPS if val_ds else None,
                              verbose=verbose)
        self.epoch = max(self.epoch, epochs)
        return history

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def mold_inputs(self, images):
        """Resize, pad and normalise images for the network.

        Returns molded_images [N, h, w, c], image_metas [N, meta], windows
        [N, (y1, x1, y2, x2)].
        """
        return molding.mold_inputs(images, self.config)

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape,
                          image_shape, window):
        """See mrcnn.molding.unmold_detections."""
        return unmold_detections(detections, mrcnn_mask, original_image_shape,
                                 image_shape, window)

    def _check_images(self, images):
        """Validate detect()'s images and convert each with
        mrcnn.data.images.to_model_image to uint8 [H, W, IMAGE_CHANNEL_COUNT]
        (gray/RGBA -> RGB, 16-bit -> x // 257, float [0, 1] or [0, 255],
        NaN/inf and empty images refused; 8-bit RGB passes unchanged)."""
        from mrcnn.data.images import to_model_image

        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and not (
                images.ndim == 3 and images.shape[-1] > 4):
            raise ValueError("detect() takes a list of images; wrap a single image in a list")
        channels = int(self.config.IMAGE_CHANNEL_COUNT)
        return [to_model_image(image, channels, name="image {}".format(i))
                for i, image in enumerate(images)]

    def _predict(self, molded_images, image_metas, anchors):
        if self._predict_fn is None:
            model = self.keras_model

            @tf.function(reduce_retracing=True)
            def predict(images, metas, anchors):
                return model([images, metas, anchors], training=False)
            self._predict_fn = predict
        outputs = self._predict_fn(tf.constant(molded_images, tf.float32),
                                   tf.constant(image_metas, tf.float32),
                                   tf.constant(anchors, tf.float32))
        return [o.numpy() for o in outputs]

    def _detect_molded_batches(self, molded_images, image_metas, original_shapes, windows):
        """Run the network on molded images (grouped by shape, BATCH_SIZE at a
        time) and unmold each image's detections."""
        results = [None] * len(molded_images)
        groups = OrderedDict()
        for i, image in enumerate(molded_images):
            groups.setdefault(image.shape, []).append(i)
        step = self.config.BATCH_SIZE
        for shape, indices in groups.items():
            anchors = self.get_anchors(shape)
            for start in range(0, len(indices), step):
                chunk = indices[start:start + step]
                detections, _, _, mrcnn_mask, _, _, _ = self._predict(
                    np.stack([molded_images[i] for i in chunk]),
                    np.stack([image_metas[i] for i in chunk]),
                    np.broadcast_to(anchors, (len(chunk),) + anchors.shape))
                for j, i in enumerate(chunk):
                    rois, class_ids, scores, masks = unmold_detections(
                        detections[j], mrcnn_mask[j], original_shapes[i], shape, windows[i])
                    results[i] = {"rois": rois, "class_ids": class_ids, "scores": scores,
                                  "masks": masks}
        return results

    def detect(self, images, verbose=0):
        """Detect instances in a list of images (any number, any sizes;
        batched internally, config.BATCH_SIZE images at a time).

        Returns a list with a dict per image:
            rois: int32 [N, (y1, x1, y2, x2)] boxes in image pixels
            class_ids: int32 [N]
            scores: float32 [N]
            masks: bool [H, W, N]
        """
        if self.mode != "inference":
            raise ValueError("Create the model in inference mode to detect.")
        images = self._check_images(images)
        if verbose:
            log("Processing {} images".format(len(images)))
            for image in images:
                log("image", image)
        molded = [self.mold_inputs([image]) for image in images]
        for i, (molded_image, _, _) in enumerate(molded):
            molding.check_divisible(
                molded_image.shape[1:3],
                "image {} of shape {} becomes {} with IMAGE_RESIZE_MODE = {!r}: its sides".format(
                    i, images[i].shape, molded_image.shape[1:], self.config.IMAGE_RESIZE_MODE),
                hint="use 'square' or 'pad64', or resize the image")
        if verbose:
            for molded_image, image_meta, _ in molded:
                log("molded_images", molded_image)
                log("image_metas", image_meta)
        return self._detect_molded_batches([m[0][0] for m in molded], [m[1][0] for m in molded],
                                           [image.shape for image in images],
                                           [m[2][0] for m in molded])

    def detect_molded(self, molded_images, image_metas, verbose=0):
        """Detect on images already molded (e.g. from load_image_gt + mold_image);
        boxes and masks are in molded-image coordinates."""
        if self.mode != "inference":
            raise ValueError("Create the model in inference mode to detect.")
        shapes = [np.asarray(image).shape for image in molded_images]
        return self._detect_molded_batches([np.asarray(image) for image in molded_images],
                                           list(np.asarray(image_metas)), shapes,
                                           [[0, 0, s[0], s[1]] for s in shapes])

    def get_anchors(self, image_shape):
        """Normalised anchors of an input of `image_shape` (cached); the pixel
        anchors of the last new shape are kept in self.anchors."""
        if not hasattr(self, "_anchor_cache"):
            self._anchor_cache = {}
        key = tuple(int(v) for v in image_shape)
        if key not in self._anchor_cache:
            self.anchors = molding.pyramid_anchors(self.config, image_shape)
            self._anchor_cache[key] = molding.normalized_anchors(self.config, image_shape,
                                                                 self.anchors)
        return self._anchor_cache[key]

    # ------------------------------------------------------------------
    # Inspection
    # ------------------------------------------------------------------
    def ancestor(self, tensor, name, checked=None):
        """Find the layer output named `name` (a layer name, or a regex) among
        the ancestors of the Keras tensor `tensor`; None if absent."""
        pattern = re.compile(name) if isinstance(name, str) else name
        seen = set()
        stack = [tensor]
        while stack:
            t = stack.pop()
            history = getattr(t, "_keras_history", None)
            if history is None:
                continue
            layer = history[0]
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            node = layer._inbound_nodes[history[1]]
            for parent in node.input_tensors:
                parent_layer = parent._keras_history[0]
                if re.fullmatch(pattern, parent_layer.name):
                    return parent
                stack.append(parent)
        return None

    def find_trainable_layer(self, layer):
        """The layer that holds the weights (unwraps TimeDistributed)."""
        if isinstance(layer, KL.TimeDistributed):
            return self.find_trainable_layer(layer.layer)
        return layer

    def get_trainable_layers(self):
        """Layers that have weights."""
        return [self.find_trainable_layer(l) for l in self.keras_model.layers
                if self.find_trainable_layer(l).get_weights()]

    def run_graph(self, images, outputs, image_metas=None):
        """Compute intermediate tensors of the inference graph.

        images: a list of images (or molded images with `image_metas`).
        outputs: list of (name, tensor): Keras tensors of self.keras_model,
            e.g. ("proposals", model.keras_model.get_layer("ROI").output).
        Returns an OrderedDict name -> numpy array.

        The heads run on [batch * rois, ...] inside; the output of their last
        layer (e.g. ``get_layer("mrcnn_mask").output``) is returned as
        [batch, rois, ...], as in matterport.
        """
        outputs = OrderedDict(outputs)
        for key, value in outputs.items():
            if value is None:
                raise ValueError("run_graph: output {!r} is None".format(key))
        # A head's last layer: give its [batch, rois, ...] view (heads.UnfoldRois).
        unfolded = {}
        # The mask head computes only the valid rows and scatters them back
        # (heads.ScatterRows) before UnfoldRois: its last layer maps through it.
        scattered = {id(layer.output): layer.input[0] for layer in self.keras_model.layers
                     if type(layer).__name__ == "ScatterRows" and len(layer._inbound_nodes) == 1}
        for layer in self.keras_model.layers:
            if type(layer).__name__ == "UnfoldRois" and len(layer._inbound_nodes) == 1:
                unfolded[id(layer.input)] = layer.output
                if id(layer.input) in scattered:
                    unfolded[id(scattered[id(layer.input)])] = layer.output
        outputs = OrderedDict((k, unfolded.get(id(v), v)) for k, v in outputs.items())
        sub = keras.Model(self.keras_model.inputs, list(outputs.values()))
        if image_metas is None:
            molded_images, image_metas, _ = self.mold_inputs(images)
        else:
            molded_images = images
        anchors = self.get_anchors(molded_images[0].shape)
        anchors = np.broadcast_to(anchors, (len(molded_images),) + anchors.shape)
        model_in = [np.asarray(molded_images, np.float32), np.asarray(image_metas, np.float32),
                    anchors.astype(np.float32)]
        if self.mode == "training":
            raise ValueError("run_graph needs an inference-mode model")
        values = sub(model_in, training=False)
        if not isinstance(values, (list, tuple)):
            values = [values]
        result = OrderedDict((k, np.asarray(v)) for k, v in zip(outputs.keys(), values))
        for k, v in result.items():
            log(k, v)
        return result
