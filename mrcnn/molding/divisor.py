"""The backbone divisor: the network's input sides must be multiples of 64.

The ResNet stem and stages and the FPN's P6 halve the image 6 times
(P6 has stride 64 = config.BACKBONE_STRIDES[-1]); a side that is not a
multiple of 64 gives feature maps that no longer line up when the FPN adds
upsampled maps to the lateral ones. "pad64" resizing pads to it, "square"
needs IMAGE_MAX_DIM to be a multiple of it. Imports only NumPy.
"""

BACKBONE_DIVISOR = 64


def padding_to_divisor(size):
    """Pixels to add to `size` to reach the next multiple of BACKBONE_DIVISOR
    (0 if it is one). Works on ints, NumPy arrays and integer tensors."""
    return (BACKBONE_DIVISOR - size % BACKBONE_DIVISOR) % BACKBONE_DIVISOR


def is_divisible(*sizes):
    """True when every size is a multiple of BACKBONE_DIVISOR."""
    return all(int(s) % BACKBONE_DIVISOR == 0 for s in sizes)


def check_divisible(sizes, what, hint=None):
    """Raise ValueError("<what> <sizes> must be divisible by 64 ...") unless
    every size in `sizes` is a multiple of BACKBONE_DIVISOR.

    what: names the value, e.g. "IMAGE_SHAPE" or "image 3 of shape (50, 70, 3)
    becomes (50, 70) with IMAGE_RESIZE_MODE = 'none'; it"; hint: what to do
    instead, appended to the message.
    """
    sizes = [int(s) for s in sizes]
    if is_divisible(*sizes):
        return
    message = "{} {} must be divisible by {} (the backbone halves the image 6 times)".format(
        what, sizes if len(sizes) > 1 else sizes[0], BACKBONE_DIVISOR)
    if hint:
        message += "; " + hint
    raise ValueError(message)
