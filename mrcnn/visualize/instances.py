"""Colours, masks and figures of instances.

:func:`random_colors` and :func:`apply_mask` are the building blocks every
drawing function uses; :func:`display_instances` draws an image with its
instances, :func:`display_images` a grid of images and
:func:`display_top_masks` an image beside its largest classes' masks. The
private helpers here (saving/showing a figure, outlining a mask) are shared
by the other ``mrcnn.visualize`` modules.
"""

import colorsys
import random

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patches
from skimage.measure import find_contours


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


def _draw_outline(ax, mask, color):
    """Add the outline of every region of ``mask`` ([height, width]) to
    ``ax`` as unfilled polygons in image (x, y) coordinates."""
    # Pad so that masks touching the border still give closed outlines.
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    for verts in find_contours(padded, 0.5):
        xy = np.fliplr(verts) - 1  # (row, col) in padded -> (x, y) in image
        ax.add_patch(patches.Polygon(xy, facecolor="none", edgecolor=color))


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
        _draw_outline(ax, mask, color)

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
        cmap: passed to ``imshow`` (useful for single-channel images).
        norm: passed to ``imshow``.
        interpolation: passed to ``imshow``.
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


def display_top_masks(image, mask, class_ids, class_names, limit=4, save_path=None):
    """Show the image beside one panel per class for its ``limit`` classes
    of largest total mask area. Each panel numbers the class's instances
    1, 2, ... (0 is background); panels past the image's classes are
    blank and titled "-".

    Returns the figure (see :func:`display_images`).
    """
    mask = np.asarray(mask)
    class_ids = np.asarray(class_ids)
    panels = [image]
    titles = ["H x W={}x{}".format(image.shape[0], image.shape[1])]
    unique = np.unique(class_ids)
    areas = [np.sum(mask[:, :, class_ids == c]) for c in unique]
    top = [c for c, a in sorted(zip(unique, areas), key=lambda r: r[1], reverse=True) if a > 0]
    for k in range(limit):
        if k < len(top):
            m = mask[:, :, class_ids == top[k]]
            panels.append(np.sum(m * np.arange(1, m.shape[-1] + 1), -1))
            titles.append(str(class_names[top[k]]))
        else:
            panels.append(np.zeros(image.shape[:2]))
            titles.append("-")
    return display_images(panels, titles=titles, cols=limit + 1, cmap="Blues_r",
                          save_path=save_path)
