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

import logging
import os

import numpy as np
import tensorflow as tf
from keras import layers as KL

from mrcnn import distribute as dist
from mrcnn import modeldir, molding
from mrcnn import weights as weight_io
from mrcnn.config import Config
from mrcnn.heads import build_roi_heads
from mrcnn.modeling import build_graph, contracts, inspection
from mrcnn.modeling.predict import check_images, detect_molded_batches
from mrcnn.training import fit, set_trainable

# matterport's mrcnn.model names, importable from here as before.
from mrcnn.backbone import (BatchNorm, batch_norm_options, fpn_graph,  # noqa: F401
                            resnet_graph)
from mrcnn.data.pipeline import (build_detection_targets, build_rpn_targets,  # noqa: F401
                                 data_generator, generate_random_rois, load_image_gt,
                                 make_tf_dataset)
from mrcnn.heads import build_fpn_mask_graph, build_rpn_model, fpn_classifier_graph  # noqa: F401
from mrcnn.layers import (DetectionLayer, DetectionTargetLayer, ProposalLayer,  # noqa: F401
                          PyramidROIAlign)
from mrcnn.modeldir import CLASS_NAMES_FILE, CONFIG_FILE, WEIGHTS_FILE, read_class_names  # noqa
from mrcnn.modeling.inspection import log  # noqa: F401
from mrcnn.molding import (compose_image_meta, compute_backbone_shapes, mold_image,  # noqa
                           parse_image_meta, parse_image_meta_graph, unmold_detections,
                           unmold_image)
from mrcnn.training import LAYER_REGEX, EpochCheckpoint, Trainer, make_optimizer  # noqa: F401

logger = logging.getLogger(__name__)


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
        self._heads = None
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
            molding.check_divisible(config.IMAGE_SHAPE[:2], "IMAGE_SHAPE",
                                    hint="use e.g. 256, 320, 384, 448, 512")
            anchors = self.get_anchors(config.IMAGE_SHAPE) if mode == "training" else None
            return build_graph(mode, config, train_anchors=anchors)


    # ------------------------------------------------------------------
    # Weights and directories
    # ------------------------------------------------------------------
    def find_last(self):
        """Path of the last checkpoint of the last training run in model_dir
        (see mrcnn.modeldir.find_last)."""
        return modeldir.find_last(self.model_dir, modeldir.run_name(self.config))

    def load_weights(self, filepath, by_name=False, exclude=None, adapt_input_channels=False,
                     strict=False):
        """Load weights from an HDF5 file (matterport's `.h5` files, old and
        new, or this package's) or from a model directory written by `save`.

        by_name: match layers by name and skip layers absent from the file.
        exclude: layer names to skip (implies by_name=True), e.g.
            ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
            when NUM_CLASSES differs from the file's.
        adapt_input_channels: for IMAGE_CHANNEL_COUNT != 3, convert the
            file's RGB conv1 kernel (True or "repeat", or "zeros"; see
            mrcnn.weights.adapt_conv1 and docs/images.md) instead of failing.
        strict: every weighted layer of the model but the excluded ones
            must be in the file, else ValueError saying how many are not and
            which (the command line loads this way). Without it, by_name
            loading logs a warning with that count ("mrcnn.weights" logger).
        A file made for another config raises ValueError naming the layer
        and both shapes; nothing is loaded then.
        """
        filepath = modeldir.weights_path(filepath)
        if exclude:
            by_name = True
        if strict:
            by_name = False
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
        return modeldir.save_model(self.keras_model, self.config, directory,
                                   class_names=class_names)

    def export(self, export_dir, version=1, full_masks=False, force=False, class_names=None,
               verbose=1, format="saved_model", quantize=None, opset=17, select_tf_ops=False):
        """Export the model with its pre- and post-processing.

        format "saved_model" (default): a SavedModel for TF Serving in
        `export_dir/<version>/` (mrcnn.export.export_saved_model).
        format "onnx" / "tflite": one file at `export_dir` (a file path) with
        a `<file>.json` sidecar (mrcnn.deploy.export_onnx / export_tflite;
        quantize, opset and select_tf_ops apply there). Returns the path.
        """
        if format == "saved_model":
            if quantize is not None or select_tf_ops:
                raise ValueError("quantize and select_tf_ops apply to the onnx and tflite "
                                 "formats, not saved_model")
            from mrcnn.export import export_saved_model
            return export_saved_model(self, export_dir, version=version, full_masks=full_masks,
                                      force=force, class_names=class_names, verbose=verbose)
        if full_masks:
            raise ValueError("full_masks is a saved_model option; the {} export has "
                             "box-relative masks".format(format))
        from mrcnn import deploy
        if format == "onnx":
            if select_tf_ops:
                raise ValueError("select_tf_ops applies to the tflite format")
            return deploy.export_onnx(self, export_dir, opset=opset, quantize=quantize,
                                      class_names=class_names, force=force)
        if format == "tflite":
            return deploy.export_tflite(self, export_dir, quantize=quantize,
                                        select_tf_ops=select_tf_ops, class_names=class_names,
                                        force=force)
        raise ValueError("format must be one of saved_model, onnx, tflite; got {!r}".format(
            format))

    @classmethod
    def from_directory(cls, directory, mode="inference", config=None, model_dir=None,
                       **overrides):
        """Build a model from a directory written by `save`, with its config
        (attributes in `overrides` replace the saved ones; inference uses
        one image per batch by default) and its weights."""
        if config is None:
            config = modeldir.load_config(directory, mode=mode, **overrides)
        model = cls(mode=mode, config=config, model_dir=model_dir or directory)
        model.load_weights(directory, by_name=True)
        model.class_names = read_class_names(directory, num_classes=config.NUM_CLASSES)
        return model

    def get_imagenet_weights(self):
        """Download Keras' ImageNet ResNet-50 weights (no top); returns the path."""
        from mrcnn.pretrained import imagenet_weights_path
        return imagenet_weights_path()

    def set_log_dir(self, model_path=None):
        """Set the log directory and epoch counter; a checkpoint path of this
        package's (matterport's) naming restarts from its epoch."""
        self.log_dir, self.checkpoint_path, self.epoch, resumed = modeldir.log_dir_for(
            self.model_dir, modeldir.run_name(self.config), model_path)
        # A new run's directory is created when training starts
        # (_create_log_dir), exclusively: two runs never share one.
        self._new_log_dir = None if resumed else (self.log_dir, self.checkpoint_path)
        if resumed:
            print("Re-starting from epoch %d" % self.epoch)

    def _create_log_dir(self):
        """Create self.log_dir for training: a new run's exclusively (the
        next free name of its second if another run took it meanwhile;
        log_dir and checkpoint_path follow), a resumed run's if missing."""
        if getattr(self, "_new_log_dir", None) == (self.log_dir, self.checkpoint_path):
            self.log_dir = modeldir.claim_run_dir(self.log_dir)
            self.checkpoint_path = modeldir.checkpoint_path(self.log_dir,
                                                            modeldir.run_name(self.config))
            self._new_log_dir = None
        else:  # resumed, or log_dir set by the caller
            os.makedirs(self.log_dir, exist_ok=True)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def set_trainable(self, layer_regex, keras_model=None, indent=0, verbose=1):
        """Make the layers whose names fully match `layer_regex` trainable
        and freeze the others (nested models are searched too)."""
        set_trainable(keras_model or self.keras_model, layer_regex, indent=indent,
                      verbose=verbose, top=keras_model is None)

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
        return fit(self, train_dataset, val_dataset, learning_rate, epochs, layers,
                   augmentation=augmentation, custom_callbacks=custom_callbacks,
                   no_augmentation_sources=no_augmentation_sources, verbose=verbose)

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
        return contracts.by_name(self.keras_model, [o.numpy() for o in outputs])

    def _detect_molded_batches(self, molded_images, image_metas, original_shapes, windows):
        if self._heads is None:
            self._heads = build_roi_heads(self.config)
        return detect_molded_batches(self._predict, self.get_anchors, self._heads,
                                     self.config.BATCH_SIZE, molded_images, image_metas,
                                     original_shapes, windows)

    def detect(self, images, verbose=0):
        """Detect instances in a list of images (any number, any sizes;
        batched internally, config.BATCH_SIZE images at a time).

        Returns a list with a dict per image:
            rois: int32 [N, (y1, x1, y2, x2)] boxes in image pixels
            class_ids: int32 [N]
            scores: float32 [N]
            masks: bool [H, W, N]
            keypoints (models with config.KEYPOINT_NAMES): float32 [N, K,
                (x, y, score)] in image pixels (zeros for classes without
                keypoints), see docs/keypoints.md
        """
        if self.mode != "inference":
            raise ValueError("Create the model in inference mode to detect.")
        images = check_images(images, self.config)
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
        return inspection.ancestor(tensor, name)

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
        if self.mode == "training":
            raise ValueError("run_graph needs an inference-mode model")
        if image_metas is None:
            molded_images, image_metas, _ = self.mold_inputs(images)
        else:
            molded_images = images
        anchors = self.get_anchors(molded_images[0].shape)
        anchors = np.broadcast_to(anchors, (len(molded_images),) + anchors.shape)
        model_in = [np.asarray(molded_images, np.float32), np.asarray(image_metas, np.float32),
                    anchors.astype(np.float32)]
        result = inspection.evaluate(self.keras_model, outputs, model_in)
        for k, v in result.items():
            log(k, v)
        return result
