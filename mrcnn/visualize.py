"""Drawing helpers for Mask R-CNN detections and data set samples.

The public functions keep the names, signatures and defaults of matterport's
``mrcnn.visualize`` so existing notebooks and scripts keep working:

* :func:`random_colors` - distinct colours for instances.
* :func:`apply_mask` - blend one binary mask into an image array.
* :func:`display_instances` - image with boxes, captions, masks and outlines.
* :func:`display_images` - a grid of images with titles.
* :func:`draw_box` - burn a box outline into an image array.

Conventions
-----------
* Images are ``[height, width, 3]`` arrays with values in ``0..255``.
* Boxes are ``[N, (y1, x1, y2, x2)]`` in pixel coordinates.
* Masks are ``[height, width, N]`` arrays of bool (or 0/1).
* Colours are RGB tuples with components in ``[0, 1]``.

Headless use
------------
On Linux without a display (no ``DISPLAY`` / ``WAYLAND_DISPLAY``) the module
selects matplotlib's non-interactive ``Agg`` backend, but only when pyplot has
not been imported yet and no backend was requested through ``MPLBACKEND``, so
notebooks and scripts that choose a backend themselves are left alone. Every
drawing function accepts ``save_path`` to write the figure to a file.
"""

import colorsys
import os
import random
import sys

import matplotlib


def _select_headless_backend():
    """Use Agg on a display-less Linux box unless the user chose a backend."""
    if "matplotlib.pyplot" in sys.modules:
        return  # a backend is already in use; switching could break it
    if os.environ.get("MPLBACKEND"):
        return  # explicit choice (Jupyter's kernel sets this too)
    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    matplotlib.use("Agg")


_select_headless_backend()

import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
import numpy as np  # noqa: E402
from matplotlib import patches  # noqa: E402
from skimage.measure import find_contours  # noqa: E402


############################################################
#  Colours and masks
############################################################

def random_colors(N, bright=True):
    """Return ``N`` visually distinct colours in random order.

    The hues are spread evenly around the HSV circle at full saturation, with
    value 1.0 (``bright``) or 0.7, converted to RGB and shuffled with
    :func:`random.shuffle` (seed :mod:`random` for a repeatable order).

    Returns:
        list of ``N`` ``(r, g, b)`` tuples with components in ``[0, 1]``.
    """
    value = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(k / N, 1.0, value) for k in range(N)]
    random.shuffle(colors)
    return colors


def apply_mask(image, mask, color, alpha=0.5):
    """Blend ``color`` into ``image`` where ``mask`` is 1, in place.

    For each channel ``c``, pixels with ``mask == 1`` become
    ``image * (1 - alpha) + alpha * color[c] * 255``; other pixels are kept.
    The result is written back with ``image``'s dtype (so an integer image
    truncates the blended value).

    Args:
        image: ``[height, width, 3]`` array, modified in place.
        mask: ``[height, width]`` array of bool or 0/1.
        color: ``(r, g, b)`` with components in ``[0, 1]``.
        alpha: opacity of the colour, 0 (invisible) to 1 (opaque).

    Returns:
        ``image`` (the same array object).
    """
    inside = mask == 1
    for c in range(3):
        channel = image[:, :, c]
        image[:, :, c] = np.where(inside,
                                  channel * (1 - alpha) + alpha * color[c] * 255,
                                  channel)
    return image


############################################################
#  Figures
############################################################

def _finish_figure(fig, created, save_path):
    """Save and/or show a figure the way all drawing functions do."""
    if save_path is not None:
        fig.savefig(save_path, bbox_inches="tight")
        if created:
            plt.close(fig)
    elif created:
        plt.show()


def _count(array):
    """Number of rows of an array-like, or None for None."""
    return None if array is None else np.shape(array)[0]


def display_instances(image, boxes, masks, class_ids, class_names,
                      scores=None, title="",
                      figsize=(16, 16), ax=None,
                      show_mask=True, show_bbox=True,
                      colors=None, captions=None, save_path=None):
    """Draw an image with its instances' boxes, captions, masks and outlines.

    Args:
        image: ``[height, width, 3]`` image, values in ``0..255``; not modified.
        boxes: ``[N, (y1, x1, y2, x2)]`` boxes in pixels. An all-zero box marks
            an instance to skip (as matterport did).
        masks: ``[height, width, N]`` instance masks (bool or 0/1).
        class_ids: ``[N]`` int class IDs, indices into ``class_names``.
        class_names: list of class names of the data set.
        scores: optional ``[N]`` confidences, shown as ``"name 0.987"``.
        title: axes title.
        figsize: figure size in inches when a figure is created here.
        ax: matplotlib axes to draw into; a new figure is made when None.
        show_mask: blend the masks into the image.
        show_bbox: draw dashed box rectangles.
        colors: optional list of ``N`` ``(r, g, b)`` colours in ``[0, 1]``;
            :func:`random_colors` is used when None.
        captions: optional list of ``N`` strings replacing the default
            ``"class_name score"`` captions.
        save_path: if given, save the figure there (and close it when it was
            created here) instead of calling ``plt.show()``.

    Returns:
        The matplotlib axes drawn into.

    Raises:
        ValueError: if boxes, masks and class_ids disagree on N (with no
            boxes, ``masks`` and ``class_ids`` may also be None).
    """
    N = _count(boxes)
    n_masks = None if masks is None else np.shape(masks)[-1]
    n_ids = _count(class_ids)
    given = [n for n in (n_masks, n_ids) if n is not None or N]
    if any(n != N for n in given):
        raise ValueError(
            "boxes, masks and class_ids must describe the same instances: "
            "got {} boxes, {} masks and {} class_ids".format(N, n_masks, n_ids))
    if not N:
        print("\n*** No instances to display *** \n")

    created = ax is None
    if created:
        _, ax = plt.subplots(1, figsize=figsize)

    if colors is None:
        colors = random_colors(N)

    height, width = image.shape[:2]
    ax.set_ylim(height + 10, -10)
    ax.set_xlim(-10, width + 10)
    ax.axis("off")
    ax.set_title(title)

    # uint32 leaves headroom for the blend before the final uint8 cast.
    masked_image = np.array(image, dtype=np.uint32, copy=True)
    for i in range(N):
        color = colors[i]
        if not np.any(boxes[i]):
            continue  # instance cropped away / padding row
        y1, x1, y2, x2 = boxes[i]

        if show_bbox:
            ax.add_patch(patches.Rectangle(
                (x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=0.7,
                linestyle="dashed", edgecolor=color, facecolor="none"))

        if captions is None:
            label = class_names[class_ids[i]]
            score = None if scores is None else scores[i]
            caption = label if score is None else "{} {:.3f}".format(label, score)
        else:
            caption = captions[i]
        ax.text(x1, y1 + 8, caption, color="w", size=11, backgroundcolor="none")

        mask = masks[:, :, i]
        if show_mask:
            masked_image = apply_mask(masked_image, mask, color)

        # Pad so that masks touching the border still give closed outlines.
        padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
        padded[1:-1, 1:-1] = mask
        for verts in find_contours(padded, 0.5):
            xy = np.fliplr(verts) - 1  # (row, col) in padded -> (x, y) in image
            ax.add_patch(patches.Polygon(xy, facecolor="none", edgecolor=color))

    ax.imshow(masked_image.astype(np.uint8))
    _finish_figure(ax.figure, created, save_path)
    return ax


def display_images(images, titles=None, cols=4, cmap=None, norm=None,
                   interpolation=None, save_path=None):
    """Show a list of images in a grid, ``cols`` per row.

    Args:
        images: list of ``[height, width(, channels)]`` arrays; each is shown
            as ``uint8``.
        titles: optional list of titles, one per image (default: empty).
        cols: images per row.
        cmap, norm, interpolation: passed to ``imshow`` (useful for
            single-channel images).
        save_path: if given, save the figure there and close it instead of
            calling ``plt.show()``.

    Returns:
        The matplotlib figure.
    """
    titles = titles if titles is not None else [""] * len(images)
    rows = max(1, -(-len(images) // cols))  # ceil, at least one row
    fig = plt.figure(figsize=(14, max(1, 14 * rows // cols)))
    for i, (image, title) in enumerate(zip(images, titles), start=1):
        ax = fig.add_subplot(rows, cols, i)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        ax.imshow(np.asarray(image).astype(np.uint8), cmap=cmap, norm=norm,
                  interpolation=interpolation)
    _finish_figure(fig, True, save_path)
    return fig


############################################################
#  Drawing into arrays
############################################################

def draw_box(image, box, color):
    """Burn the outline of ``box`` into ``image`` in place.

    Each side is drawn 2 pixels thick starting at the box edge:
    rows ``y1:y1+2`` and ``y2:y2+2`` over columns ``x1:x2``, and columns
    ``x1:x1+2`` and ``x2:x2+2`` over rows ``y1:y2``.

    Args:
        image: ``[height, width(, channels)]`` array, modified in place.
        box: ``(y1, x1, y2, x2)`` in pixels.
        color: value assigned to the outline pixels, e.g. ``(255, 0, 0)``.

    Returns:
        ``image`` (the same array object).
    """
    y1, x1, y2, x2 = box
    image[y1:y1 + 2, x1:x2] = color
    image[y2:y2 + 2, x1:x2] = color
    image[y1:y2, x1:x1 + 2] = color
    image[y1:y2, x2:x2 + 2] = color
    return image
