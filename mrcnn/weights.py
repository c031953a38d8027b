"""HDF5 weight files in matterport's (Keras 2 legacy) layout.

Layout: the root (or its ``model_weights`` group) has an attribute
``layer_names``; each layer is a group with an attribute ``weight_names``
and one dataset per weight at ``<layer>/<weight name>``. A nested model
(``rpn_model``) is one group holding the weights of its inner layers.
String attributes may be variable-length str (tf_keras) or fixed-length
bytes (Keras 2.1 / h5py 2, e.g. the released mask_rcnn_coco.h5); both are
read. Files written here use the same layout, so matterport-era tools and
this package read each other's files.
"""

import contextlib
import logging
import os

import h5py
import numpy as np

from mrcnn import fileio

logger = logging.getLogger(__name__)


def _as_str(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _str_list(attr):
    return [_as_str(v) for v in np.asarray(attr).reshape(-1)]


def weighted_layers(model):
    """(name, [variables]) of each layer of `model` that holds weights, in
    model order. Nested models count as one layer holding all of their
    weights (matterport's rpn_model)."""
    out = []
    for layer in model.layers:
        if layer.weights:
            out.append((layer.name, list(layer.weights)))
    return out


def _variable_name(layer_name, variable, nested):
    """HDF5 weight name of a variable, e.g. 'conv1/kernel:0'."""
    path = getattr(variable, "path", variable.name)
    parts = path.split("/")
    if nested and len(parts) >= 2:
        return "{}/{}:0".format(parts[-2], parts[-1])
    return "{}/{}:0".format(layer_name, parts[-1])


@contextlib.contextmanager
def open_layer_group(filepath):
    """Open a Keras HDF5 weight file and yield the group holding its layers
    (the root, or ``model_weights`` of a whole-model file). ValueError
    naming the file when it is not HDF5 or has no ``layer_names``. Reads no
    weight values; needs h5py only (not Keras)."""
    try:
        f = h5py.File(filepath, mode="r")
    except OSError as e:
        raise ValueError("{} is not a readable HDF5 weight file ({})".format(filepath, e)) \
            from None
    with f:
        group = f
        if "layer_names" not in group.attrs and "model_weights" in group:
            group = group["model_weights"]
        if "layer_names" not in group.attrs:
            raise ValueError("{} is an HDF5 file without Keras layer weights (no "
                             "'layer_names' attribute)".format(filepath))
        yield group


def stored_layer_names(group):
    """The ``layer_names`` of an `open_layer_group` group, as str."""
    return _str_list(group.attrs["layer_names"])


def stored_weight_names(layer_group):
    """The ``weight_names`` of one layer's group, as str ([] when absent)."""
    if "weight_names" not in layer_group.attrs:
        return []
    return _str_list(layer_group.attrs["weight_names"])


def read_weight_file(filepath):
    """Read a weight file into {layer name: [(weight name, array), ...]}.
    Errors name the file."""
    if not os.path.exists(filepath):
        raise FileNotFoundError("weight file not found: {}".format(filepath))
    with open_layer_group(filepath) as group:
        layers = {}
        for name in stored_layer_names(group):
            g = group[name]
            layers[name] = [(w, np.asarray(g[w])) for w in stored_weight_names(g)]
        return layers


# The first convolution of the built-in backbones, the only layer that sees
# the image channels.
INPUT_CONV = "conv1"


def adapt_conv1(kernel, channels, extra="repeat"):
    """Adapt a first-layer kernel trained on RGB to `channels` input channels.

    kernel: [kh, kw, 3, filters] (e.g. conv1 of the COCO/ImageNet weights).
    channels: the new input channel count (config.IMAGE_CHANNEL_COUNT).
    extra: how channels > 3 start:
        "repeat": the RGB filters repeated (R, G, B, R, ...) and scaled by
            3 / channels, so the response keeps the RGB network's magnitude
            (exactly its response to a gray image when channels is a
            multiple of 3);
        "zeros": the RGB filters for the first three channels and zeros for
            the others, so an RGB + extra-band image gives exactly the RGB
            network's response at first and training learns the extra bands.

    channels == 1: the sum of the RGB filters, i.e. the RGB network looking
    at the gray image copied into R, G and B (use a gray MEAN_PIXEL, e.g.
    the mean of the RGB means). channels == 2: "repeat"'s rule.
    Returns float32 [kh, kw, channels, filters].
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError("adapt_conv1: expected an RGB kernel [kh, kw, 3, filters], got shape "
                         "{}".format(kernel.shape))
    channels = int(channels)
    if channels < 1:
        raise ValueError("adapt_conv1: channels must be >= 1, got {}".format(channels))
    if extra not in ("repeat", "zeros"):
        raise ValueError("adapt_conv1: extra must be 'repeat' or 'zeros', got {!r}".format(extra))
    kernel = kernel.astype(np.float32)
    if channels == 3:
        return kernel
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    if extra == "zeros" and channels > 3:
        out = np.zeros(kernel.shape[:2] + (channels, kernel.shape[3]), np.float32)
        out[:, :, :3] = kernel
        return out
    index = np.arange(channels) % 3
    return kernel[:, :, index] * (3.0 / channels)


def _adaptable(name, variable, array):
    """True when a file kernel of `name` differs from the model's only in its
    input channels and comes from an RGB model."""
    shape = tuple(variable.shape)
    return (name == INPUT_CONV and array.ndim == 4 and len(shape) == 4 and array.shape[2] == 3
            and array.shape[:2] == shape[:2] and array.shape[3] == shape[3])


def load_weights(model, filepath, by_name=False, exclude=None, adapt_input_channels=False):
    """Load `filepath` into `model`, matching layers by name.

    by_name=False: every weighted layer of the model (but the excluded ones)
        must be in the file; ValueError says how many are not, and which.
    by_name=True: layers missing from the file keep their values
        (matterport's semantics); a warning on the "mrcnn.weights" logger
        says how many and which.
    exclude: layer names not to load (e.g. the class-specific heads when
        NUM_CLASSES differs).
    adapt_input_channels: when the model takes other than 3 channels
        (config.IMAGE_CHANNEL_COUNT) and the file's conv1 kernel is RGB,
        convert it with `adapt_conv1` (extra="repeat") instead of failing.
        Pass "zeros" to start the extra channels at zero. Without it, such
        a file needs exclude=["conv1"] (conv1 then keeps its random start).
    Shapes are checked for all layers before anything is assigned: a file
    made for another configuration raises ValueError naming the layer and
    both shapes, and leaves the model untouched.
    Returns the list of layer names loaded.
    """
    exclude = set(exclude or [])
    file_layers = read_weight_file(filepath)
    plan = []
    missing = []
    for name, variables in weighted_layers(model):
        if name in exclude:
            continue
        if name not in file_layers or not file_layers[name]:
            missing.append(name)
            continue
        saved = file_layers[name]
        if len(saved) != len(variables):
            raise ValueError(
                "{}: layer '{}' has {} weights in the file but {} in the model ({}); was "
                "the file made for another configuration? Pass exclude=['{}'] to skip it."
                .format(filepath, name, len(saved), len(variables),
                        ", ".join(w for w, _ in saved), name))
        adapted = []
        for variable, (weight_name, array) in zip(variables, saved):
            if (adapt_input_channels and tuple(variable.shape) != tuple(array.shape)
                    and _adaptable(name, variable, array)):
                extra = adapt_input_channels if isinstance(adapt_input_channels, str) else "repeat"
                array = adapt_conv1(array, variable.shape[2], extra=extra)
            adapted.append((weight_name, array))
            if tuple(variable.shape) != tuple(array.shape) and _adaptable(name, variable, array):
                raise ValueError(
                    "{}: layer '{}' takes {} input channels in the model "
                    "(config.IMAGE_CHANNEL_COUNT) but 3 (RGB) in the file; pass "
                    "adapt_input_channels=True to convert the RGB filters, or "
                    "exclude=['{}'] to skip the layer".format(
                        filepath, name, variable.shape[2], name))
            if tuple(variable.shape) != tuple(array.shape):
                raise ValueError(
                    "{}: layer '{}' weight '{}' has shape {} in the file but {} in the model; "
                    "was the file made for another configuration (e.g. NUM_CLASSES)? Pass "
                    "exclude=['{}', ...] to skip those layers.".format(
                        filepath, name, weight_name, tuple(array.shape),
                        tuple(variable.shape), name))
        plan.append((name, variables, adapted))
    total = len(plan) + len(missing)
    if missing and not by_name:
        raise ValueError("{}: {} weighted layer(s) of the model's {} are not in the file: {}{}; "
                         "was the file made for another model or configuration (BACKBONE, "
                         "NUM_CLASSES, ...)? In Python, load_weights(by_name=True) loads the "
                         "others.".format(filepath, len(missing), total, ", ".join(missing[:10]),
                                          " ..." if len(missing) > 10 else ""))
    if missing:
        logger.warning("%s: loaded %d of the model's %d weighted layers; %d are not in the "
                       "file and keep their values: %s%s", filepath, len(plan), total,
                       len(missing), ", ".join(missing[:10]), " ..." if len(missing) > 10 else "")
    import keras

    for _, variables, saved in plan:
        for variable, (_, array) in zip(variables, saved):
            variable.assign(array.astype(keras.backend.standardize_dtype(variable.dtype)))
    return [name for name, _, _ in plan]


def save_weights(model, filepath):
    """Write the model's weights in matterport's HDF5 layout, atomically
    (temporary file in the same directory, fsynced, then renamed; see
    mrcnn.fileio.atomic_path)."""
    import keras

    # h5py creates the file with the usual 0666 & ~umask; "w-" never overwrites.
    with fileio.atomic_path(filepath, prefix=".weights-", suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w-") as f:
            names = [layer.name for layer in model.layers]
            f.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = keras.__version__.encode("utf8")
            for layer in model.layers:
                g = f.create_group(layer.name)
                nested = isinstance(layer, keras.Model)
                weight_names = [_variable_name(layer.name, v, nested) for v in layer.weights]
                g.attrs["weight_names"] = np.array([w.encode("utf8") for w in weight_names])
                for name, variable in zip(weight_names, layer.weights):
                    g.create_dataset(name, data=np.asarray(variable.numpy()))
    return filepath
