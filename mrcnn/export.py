"""SavedModel export for TF Serving: raw images in, detections out.

matterport's graph needed image metas and anchors computed in Python and a
fixed batch size, so it could not be served. Here everything `detect()` does
around the network runs inside the exported graph:

    encoded bytes --decode--> uint8 image --resize/pad/mold (resize_image's
    exact arithmetic, float64)--> anchors + image meta --> network -->
    detections --unmold--> boxes in original pixels (+ masks)

The resize, mold, meta, anchor and unmold steps are the TensorFlow twins in
mrcnn.molding, each beside the NumPy function detect() uses; this module
decodes the images and assembles the servable.

Two signatures, both with a dynamic batch:

- ``serving_default``: ``images``: tf.string [B], encoded JPEG/PNG/GIF/BMP of any
  sizes (TF Serving's REST API takes them as ``{"b64": ...}``).
- ``serving_images``: ``images``: uint8 [B, H, W, C], one size per batch.

Outputs (N = config.DETECTION_MAX_INSTANCES; rows past num_detections are 0):

- ``num_detections``: int32 [B]
- ``detection_boxes``: float32 [B, N, (y1, x1, y2, x2)] in pixels of the original
  image, rounded like detect()'s ``rois`` (y2, x2 exclusive)
- ``detection_classes``: int32 [B, N], ``detection_scores``: float32 [B, N]
- ``detection_masks``: float32 [B, N, MASK_H, MASK_W] box-relative
  probabilities (paste them with `paste_masks`), or with ``full_masks=True``
  uint8 [B, N, H, W] 0/1 masks of the original image (H, W: the largest in the
  batch; padded with 0 for smaller images).

    from mrcnn.export import export_saved_model
    export_saved_model(model, "export/mrcnn", version=1)

Exports are written to a temporary directory and renamed into place, so an
interrupted export never damages an existing version.
"""

import os

import keras
import tensorflow as tf

from mrcnn import fileio, modeldir
from mrcnn.data.images import LUMA_WEIGHTS_16
from mrcnn.heads import build_roi_heads
from mrcnn.modeling import contracts
# The graph twins of detect()'s NumPy steps live beside them in mrcnn.molding;
# paste_masks is documented as mrcnn.export.paste_masks.
from mrcnn.molding import (anchors_graph, mold_graph, normalized_anchors,  # noqa: F401
                           paste_masks, paste_masks_graph, preprocess_graph,
                           resize_images_graph, unmold_detections_graph)

SERVING_DEFAULT = "serving_default"
SERVING_IMAGES = "serving_images"
OUTPUT_KEYS = ("num_detections", "detection_boxes", "detection_classes", "detection_scores",
               "detection_masks")


############################################################
#  Decoding (mirrors mrcnn.data.images.read_image)
############################################################

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def convert_channels_graph(image, channels):
    """uint8 [H, W, c] (c in 1..4) -> uint8 [H, W, channels] with the rules of
    mrcnn.data.images.to_model_image: gray is repeated to RGB, alpha dropped,
    RGB(A) becomes PIL's "L" luminance for a 1-channel model; other channel
    counts must match exactly."""
    have = tf.shape(image)[-1]
    if channels == 3:
        out = tf.cond(have >= 3, lambda: image[..., :3],
                      lambda: tf.repeat(image[..., :1], 3, axis=-1))
    elif channels == 1:
        def luminance():
            rgb = tf.cast(image[..., :3], tf.int32)
            y = (rgb[..., 0:1] * LUMA_WEIGHTS_16[0] + rgb[..., 1:2] * LUMA_WEIGHTS_16[1] +
                 rgb[..., 2:3] * LUMA_WEIGHTS_16[2] + 32768) // 65536
            return tf.cast(y, tf.uint8)
        out = tf.cond(have >= 3, luminance, lambda: image[..., :1])
    else:
        with tf.control_dependencies([tf.debugging.assert_equal(
                have, channels, message="image channels differ from IMAGE_CHANNEL_COUNT")]):
            out = tf.identity(image)
    return tf.ensure_shape(out, [None, None, channels])


def decode_image_graph(encoded, channels):
    """Decode one JPEG/PNG/GIF/BMP/WebP string to uint8 [H, W, channels] as
    mrcnn.data.images.read_image reads the file: JPEG with the accurate
    integer DCT (libjpeg's default, what PIL uses), 16-bit PNG scaled by
    x // 257, then convert_channels_graph."""
    def jpeg():
        image = tf.io.decode_jpeg(encoded, channels=0, dct_method="INTEGER_ACCURATE")
        return tf.cast(image, tf.int32) * 257

    def png():
        # 8-bit PNGs come back scaled by 257, so // 257 below restores them.
        return tf.cast(tf.io.decode_png(encoded, channels=0, dtype=tf.uint16), tf.int32)

    def other():
        image = tf.io.decode_image(encoded, channels=0, expand_animations=False)
        return tf.cast(image, tf.int32) * 257

    is_png = tf.equal(tf.strings.substr(encoded, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    image = tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: tf.cond(is_png, png, other))
    image = tf.cast(image // 257, tf.uint8)
    return convert_channels_graph(image, channels)


############################################################
#  The servable functions
############################################################

class _Servable(object):
    """Builds the two serving functions around an inference keras model."""

    def __init__(self, keras_model, config, full_masks=False):
        self.model = keras_model
        self.config = config
        self.full_masks = full_masks
        self.channels = int(config.IMAGE_CHANNEL_COUNT)
        fixed = config.IMAGE_RESIZE_MODE == "square"
        # Outputs the heads add beyond OUTPUT_KEYS (RoIHead.serving_signature).
        self.heads = build_roi_heads(config)
        self.extra_specs = {}
        for head in self.heads:
            self.extra_specs.update(head.serving_signature())
        self.fixed_anchors = None
        if fixed:
            side = int(config.IMAGE_MAX_DIM)
            self.fixed_anchors = normalized_anchors(config, (side, side))

    def _empty(self):
        """The outputs of a batch of 0 images."""
        n = int(self.config.DETECTION_MAX_INSTANCES)
        masks = (tf.zeros([0, n, 0, 0], tf.uint8) if self.full_masks else
                 tf.zeros([0, n] + list(self.config.MASK_SHAPE), tf.float32))
        empty = {"num_detections": tf.zeros([0], tf.int32),
                 "detection_boxes": tf.zeros([0, n, 4], tf.float32),
                 "detection_classes": tf.zeros([0, n], tf.int32),
                 "detection_scores": tf.zeros([0, n], tf.float32),
                 "detection_masks": masks}
        for name, spec in self.extra_specs.items():
            empty[name] = tf.zeros([0] + [d or 0 for d in spec.shape.as_list()], spec.dtype)
        return empty

    def output_keys(self):
        """The names of the servable's outputs, in order."""
        return OUTPUT_KEYS + tuple(self.extra_specs)

    def _run(self, resized, metas, original_hw):
        """resized: uint8 [B, h, w, C] padded images; metas [B, META]. A batch
        of 0 images gives empty outputs (the network needs B >= 1)."""
        return tf.cond(tf.shape(resized)[0] > 0,
                       lambda: self._run_network(resized, metas, original_hw),
                       self._empty)

    def network(self, resized, metas):
        """The inference model's raw outputs (detections, mrcnn_class, ...,
        rpn_bbox) for padded uint8 images [B, h, w, C] and their metas: the
        inputs and outputs of detect()'s MaskRCNN._predict, bit for bit."""
        molded = mold_graph(resized, self.config)
        if self.fixed_anchors is not None:
            anchors = tf.constant(self.fixed_anchors)
        else:
            shape = tf.shape(molded)
            anchors = anchors_graph(self.config, shape[1], shape[2])
        anchors = tf.tile(anchors[None], tf.stack([tf.shape(molded)[0], 1, 1]))
        return self.model([molded, metas, anchors], training=False)

    def _run_network(self, resized, metas, original_hw):
        named = contracts.by_name(self.model, self.network(resized, metas))
        detections, mrcnn_mask = named["detections"], named["mrcnn_mask"]
        result = unmold_detections_graph(detections, mrcnn_mask, metas)
        if self.full_masks:
            height = tf.reduce_max(original_hw[:, 0])
            width = tf.reduce_max(original_hw[:, 1])
            result["detection_masks"] = tf.map_fn(
                lambda a: paste_masks_graph(a[0], a[1], height, width),
                (result["detection_boxes"], result["detection_masks"]),
                fn_output_signature=tf.uint8)
        for head in self.heads:
            result.update(head.serving_outputs(named, metas, original_hw, result))
        return result

    def serve_images(self, images):
        """uint8 [B, H, W, C] -> detections."""
        resized, metas = preprocess_graph(images, self.config)
        hw = tf.shape(images)[1:3]
        return self._run(resized, metas, tf.tile(hw[None], [tf.shape(images)[0], 1]))

    def serve_encoded(self, encoded):
        """tf.string [B] encoded images -> detections.

        In "square" mode every image molds to the same shape and the batch
        runs at once; otherwise each image runs alone at its own molded shape,
        so results equal detect()'s exactly (padding images to a common shape
        would change them near the borders).
        """
        n = tf.shape(encoded)[0]

        def decode(i):
            image = decode_image_graph(encoded[i], self.channels)
            resized, meta = preprocess_graph(image[None], self.config)
            return resized, meta, tf.shape(image)[None, :2]

        if self.fixed_anchors is not None:
            side = int(self.config.IMAGE_MAX_DIM)
            images, metas, sizes = tf.map_fn(
                lambda i: [x[0] for x in decode(i)], tf.range(n),
                fn_output_signature=[tf.TensorSpec([side, side, self.channels], tf.uint8),
                                     tf.TensorSpec([int(self.config.IMAGE_META_SIZE)],
                                                   tf.float32),
                                     tf.TensorSpec([2], tf.int32)])
            return self._run(images, metas, sizes)

        max_n = int(self.config.DETECTION_MAX_INSTANCES)
        mask_spec = (tf.TensorSpec([max_n, None, None], tf.uint8) if self.full_masks else
                     tf.TensorSpec([max_n] + list(self.config.MASK_SHAPE), tf.float32))
        specs = dict(zip(OUTPUT_KEYS, [
            tf.TensorSpec([], tf.int32), tf.TensorSpec([max_n, 4], tf.float32),
            tf.TensorSpec([max_n], tf.int32), tf.TensorSpec([max_n], tf.float32), mask_spec]))
        specs.update(self.extra_specs)
        keys = self.output_keys()
        # Values whose size varies per image (full-size masks, maps of the
        # original image) travel as ragged tensors, padded to the largest.
        varying = {k for k in keys if None in specs[k].shape.as_list()}

        def ragged_spec(spec):
            return tf.RaggedTensorSpec(spec.shape, spec.dtype, ragged_rank=spec.shape.rank - 1)

        def one(i):
            resized, meta, size = decode(i)
            result = self._run(resized, meta, size)
            outputs = []
            for k in keys:
                value = result[k][0]
                if k in varying:
                    value = tf.RaggedTensor.from_tensor(value, ragged_rank=value.shape.rank - 1)
                outputs.append(value)
            return outputs

        outputs = tf.map_fn(one, tf.range(n), fn_output_signature=[
            ragged_spec(specs[k]) if k in varying else specs[k] for k in keys])
        result = dict(zip(keys, outputs))
        for k in varying:
            result[k] = result[k].to_tensor()
        return result


############################################################
#  Writing the SavedModel
############################################################

def export_saved_model(model, export_dir, version=1, full_masks=False, force=False,
                       class_names=None, verbose=1):
    """Write `model` (an inference MaskRCNN) as a TF Serving SavedModel in
    ``export_dir/<version>/``.

    version: positive integer (TF Serving loads the highest).
    full_masks: output full-size uint8 masks [B, N, H, W] instead of
        box-relative probabilities [B, N, 28, 28] (much bigger responses).
    force: replace an existing version (it stays intact until the new one
        is complete).
    class_names: list of names by class id, written with the config to
        ``assets.extra/`` (TF Serving ignores that folder).
    Returns the path of the version directory.
    """
    if getattr(model, "mode", "inference") != "inference":
        raise ValueError("export needs a model in inference mode; build "
                         "MaskRCNN(mode='inference', ...) and load the weights")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ValueError("version must be a positive integer, got {!r}".format(version)) from None
    if version < 1:
        raise ValueError("version must be a positive integer, got {}".format(version))
    config = model.config
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is not None:
        class_names = modeldir.check_class_names(class_names, config.NUM_CLASSES,
                                                 where="export")
    if config.IMAGE_RESIZE_MODE not in ("square", "pad64", "none"):
        raise ValueError("config.IMAGE_RESIZE_MODE = {!r} cannot be exported: use square, "
                         "pad64 or none".format(config.IMAGE_RESIZE_MODE))
    export_dir = os.path.abspath(export_dir)
    final = os.path.join(export_dir, str(version))
    if os.path.exists(final) and not force:
        raise FileExistsError("{} already exists; pick another version or pass force=True "
                              "(--force)".format(final))
    servable = _Servable(model.keras_model, config, full_masks=full_masks)
    channels = int(config.IMAGE_CHANNEL_COUNT)
    # Written to a temporary directory renamed into place (mrcnn.fileio):
    # an existing version stays intact until the new one is complete.
    with fileio.atomic_directory(final, replace=True) as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model.keras_model)
        archive.add_endpoint(
            name=SERVING_DEFAULT, fn=servable.serve_encoded,
            input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        archive.add_endpoint(
            name=SERVING_IMAGES, fn=servable.serve_images,
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8,
                                           name="images")])
        archive.write_out(tmp, verbose=bool(verbose))
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        config.save(os.path.join(extra, modeldir.CONFIG_FILE))
        if class_names is not None:
            modeldir.write_class_names(extra, class_names)
    return final
