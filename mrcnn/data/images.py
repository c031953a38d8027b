"""Reading images of any kind and turning them into what the model eats.

The network takes [H, W, C] uint8 images, C = config.IMAGE_CHANNEL_COUNT
(3 by default). `to_model_image` converts an array of any common kind to
that, and `read_image` reads a file and converts it. Both raise ValueError
naming the image (a file name, an image id) when they cannot.

Conversion rules (see docs/images.md):

Pixel values, to uint8:
    uint8           unchanged (8-bit RGB is bit-for-bit what matterport's
                    skimage.io.imread gave).
    bool            False -> 0, True -> 255.
    uint16          x // 257, which maps 0..65535 onto 0..255 exactly
                    (65535 // 257 = 255). A 12-bit camera stored in uint16
                    looks dark this way: scale it yourself first.
    other integers  (int32 from PIL's "I" mode, int16, ...) values within
                    0..255 are kept; values within 0..65535 are treated as
                    16-bit (x // 257); negative or larger values are refused.
    float           NaN or inf are refused. If every value is in [0, 1] the
                    image is taken as [0, 1] (x * 255, rounded); else values
                    in [0, 255] are rounded; anything else is refused. (A
                    [0, 255] float image whose pixels are all <= 1 is read as
                    [0, 1]: practically only black images.)

Channels, to C:
    C = 3 (RGB)     gray [H, W] or [H, W, 1] is repeated; gray + alpha
                    [H, W, 2] keeps the gray; RGBA drops the alpha.
    C = 1           gray is kept; RGB and RGBA become luminance
                    (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as PIL's "L");
                    gray + alpha keeps the gray.
    other C         the image must have exactly C channels.

Empty images (a zero-sized axis) are refused.
"""

import errno
import os
import stat

import numpy as np

# Files PIL cannot open but these readers can.
_NUMPY_SUFFIXES = (".npy",)
_TIFF_SUFFIXES = (".tif", ".tiff")


def _where(name):
    return "{}: ".format(name) if name else ""


def _to_uint8(array, name):
    """Pixel values of any dtype -> uint8, following the module's rules."""
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * np.uint8(255)
    if array.dtype == np.uint16:
        return (array // 257).astype(np.uint8)
    if kind in "ui":
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return array.astype(np.uint8)
        if low >= 0 and high <= 65535:
            return (array // 257).astype(np.uint8)
        raise ValueError("{}{} pixels range from {} to {}; expected 0..255 (8-bit) or 0..65535 "
                         "(16-bit). Scale the image to 0..255 yourself (e.g. override "
                         "Dataset.load_image)".format(_where(name), array.dtype, low, high))
    if kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError("{}the image contains NaN or infinite values".format(_where(name)))
        low, high = float(array.min()), float(array.max())
        if low >= 0 and high <= 1:
            return np.rint(array * 255).astype(np.uint8)
        if low >= 0 and high <= 255:
            return np.rint(array).astype(np.uint8)
        raise ValueError("{}float pixels range from {:g} to {:g}; expected [0, 1] or [0, 255]"
                         .format(_where(name), low, high))
    raise ValueError("{}pixels of dtype {} cannot be used as an image".format(
        _where(name), array.dtype))


# ITU-R 601 luma weights in 16-bit fixed point, rounded: PIL's "L" conversion.
LUMA_WEIGHTS_16 = (19595, 38470, 7471)


def _luminance(rgb):
    """ITU-R 601 luma of uint8 [H, W, 3] as uint8 [H, W, 1], exactly PIL's
    "L" conversion: (19595 R + 38470 G + 7471 B + 32768) >> 16."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    wr, wg, wb = LUMA_WEIGHTS_16
    return ((wr * r + wg * g + wb * b + 32768) >> 16).astype(np.uint8)[..., None]


def to_model_image(array, channels=3, name=None):
    """Convert an image array to uint8 [H, W, channels].

    array: [H, W] or [H, W, C] of uint8, uint16, other integers, bool or
        float (see the module docstring for the rules).
    channels: the model's channel count (config.IMAGE_CHANNEL_COUNT).
    name: names the image in errors, e.g. "image 3 (cat.jpg)".

    Returns a C-contiguous uint8 [H, W, channels] array; an 8-bit image that
    already has the right shape is returned unchanged (no copy).
    """
    array = np.asarray(array)
    channels = int(channels)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError("{}image of shape {}; expected [height, width] or [height, width, "
                         "channels]".format(_where(name), array.shape))
    if array.size == 0:
        raise ValueError("{}empty image (shape {})".format(_where(name), array.shape))
    array = _to_uint8(array, name)
    have = array.shape[-1]
    if have != channels:
        if channels == 3 and have in (1, 2):
            array = np.repeat(array[..., :1], 3, axis=-1)
        elif channels == 3 and have == 4:
            array = array[..., :3]
        elif channels == 1 and have == 2:
            array = array[..., :1]
        elif channels == 1 and have in (3, 4):
            array = _luminance(array)
        else:
            raise ValueError(
                "{}image has {} channels but the model takes {} (config.IMAGE_CHANNEL_COUNT). "
                "Images with other than 1 or 3 channels must have exactly "
                "IMAGE_CHANNEL_COUNT channels; for a Dataset, set image_channels (e.g. "
                "Dataset(image_channels={})) or override load_image()".format(
                    _where(name), have, channels, channels))
    return np.ascontiguousarray(array)


def _pil_to_array(image):
    """A PIL image as a NumPy array with as much of its depth as possible."""
    mode = image.mode
    if mode == "P" or mode == "PA":
        # Palette: look the colours up; keep transparency as alpha.
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode == "La":
        image = image.convert("LA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    return np.asarray(image)


def _is_16bit_color_png(path):
    """True for a PNG whose header says 16-bit RGB or RGBA."""
    with open(path, "rb") as f:
        head = f.read(26)
    return (len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
            and head[24] == 16 and head[25] in (2, 6))


def _read_16bit_color_png(path):
    import cv2
    from PIL import Image
    with open(path, "rb") as f:
        head = f.read(24)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if Image.MAX_IMAGE_PIXELS and width * height > 2 * Image.MAX_IMAGE_PIXELS:
        # PIL's check, which this OpenCV path would otherwise skip.
        raise Image.DecompressionBombError("Image size ({} pixels) exceeds limit of {} "
                                           "pixels".format(width * height,
                                                           2 * Image.MAX_IMAGE_PIXELS))
    array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ValueError("OpenCV cannot decode it")
    return array[..., [2, 1, 0, 3][:array.shape[-1]]]  # BGR(A) -> RGB(A)


def decompression_bomb_message(path, error=None):
    """The message for an image whose header claims more pixels than PIL's
    decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS): the file, the
    claimed size and how to raise the limit when the image is real."""
    from PIL import Image

    size = _claimed_size(path)
    if size:
        claimed, detail = "{} x {} pixels (width x height)".format(*size), ""
    else:
        claimed, detail = "more pixels than the limit", " ({})".format(error) if error else ""
    return ("{}: the image header claims {}, over PIL's decompression-bomb limit of {} "
            "pixels{}. If the image is real, raise the limit before loading, e.g. "
            "PIL.Image.MAX_IMAGE_PIXELS = {} (None disables the check); otherwise the "
            "file is damaged or hostile".format(
                path, claimed, 2 * (Image.MAX_IMAGE_PIXELS or 0), detail,
                (size[0] * size[1] if size else "None")))


def _claimed_size(path):
    """(width, height) from an image header, bypassing PIL's size limit, or
    None."""
    from PIL import Image
    try:
        with open(path, "rb") as f:
            prefix = f.read(16)
            Image.init()
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                if accept and not accept(prefix):
                    continue
                f.seek(0)
                try:
                    image = factory(f, path)
                except Exception:  # not this format
                    continue
                return tuple(int(v) for v in image.size)
    except Exception:  # the size is only for the message
        return None
    return None


def check_image_file(path, name=None):
    """Raise FileNotFoundError when `path` does not exist, OSError when it
    is a symbolic link loop, ValueError when it is not a regular file (a
    named pipe or a device would block forever or never end; a folder)."""
    prefix = _where(name)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError("{}broken symbolic link: {} points to {}, which does "
                                    "not exist".format(prefix, path,
                                                       os.readlink(path))) from None
        raise FileNotFoundError("{}file not found: {}".format(prefix, path)) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "{}symbolic link loop: {} leads back to itself "
                          "(too many levels of symbolic links)".format(prefix, path)) from None
        raise OSError(e.errno, "{}cannot open {}: {}".format(prefix, path,
                                                             e.strerror)) from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)"
                if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise ValueError("{}{} is {}, not an image file".format(prefix, path, kind))


def read_image(path, channels=3, exif_transpose=False, name=None):
    """Read an image file as uint8 [H, W, channels] (see to_model_image).

    path: any format PIL reads (JPEG, PNG including palette and 16-bit,
        BMP, GIF: first frame, TIFF, WebP, ...); multi-channel TIFFs PIL
        cannot read go through tifffile; ".npy" files hold the array itself
        ([H, W] or [H, W, C]), handy for N-channel data.
    channels: config.IMAGE_CHANNEL_COUNT.
    exif_transpose: apply the JPEG/TIFF EXIF orientation tag (rotate or
        mirror the pixels as a photo viewer shows them). Off by default:
        matterport (skimage.io.imread) ignored the tag, and masks drawn on
        the stored pixels must keep matching them. Turn it on when the
        annotation tool showed the oriented image (web browsers do).
    name: names the image in errors beside the path, e.g. "image 3".

    Raises FileNotFoundError for a missing file (or a broken link), OSError
    for a symbolic link loop, ValueError for something that is not a regular
    file (a named pipe, a device, a folder), a file that cannot be decoded or
    converted, or one whose header claims more pixels than PIL's
    decompression-bomb limit (the message says how to raise it).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    prefix = _where(name)
    check_image_file(path, name)
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix in _NUMPY_SUFFIXES:
            array = np.load(path, allow_pickle=False)
        else:
            try:
                if _is_16bit_color_png(path):
                    # PIL opens 16-bit RGB(A) PNGs at 8 bits (high byte); keep
                    # all 16 so the x // 257 rule applies as for gray ones.
                    array = _read_16bit_color_png(path)
                else:
                    with Image.open(path) as image:
                        if exif_transpose:
                            image = ImageOps.exif_transpose(image)
                        array = _pil_to_array(image)
            except (UnidentifiedImageError, OSError, ValueError):
                if suffix not in _TIFF_SUFFIXES:
                    raise
                import tifffile  # multi-channel / float TIFFs PIL does not decode
                array = tifffile.imread(path)
    except Image.DecompressionBombError as e:
        raise ValueError(prefix + decompression_bomb_message(path, e)) from None
    except Exception as e:  # decoders raise many different types
        raise ValueError("{}cannot read {}: {}".format(prefix, path, e)) from None
    return to_model_image(array, channels,
                          name="{} ({})".format(name, path) if name else path)
