"""Drawing a panoptic segmentation: stuff in flat colours, things as
instances.

:func:`display_panoptic` takes the id map and segments of
:func:`mrcnn.panoptic.fuse` (or of a dataset's ``load_panoptic`` with the
category ids mapped to class ids).
"""

import colorsys

import matplotlib.pyplot as plt
import numpy as np

from mrcnn.visualize.instances import (_finish_figure, apply_mask, display_instances,
                                       random_colors)


def stuff_color(class_id):
    """The flat colour of a stuff class: a hue fixed by the class id (the
    golden-ratio sequence), saturation 0.5, value 0.85; ``(r, g, b)`` in
    ``[0, 1]``. The same class gets the same colour in every image."""
    hue = (int(class_id) * 0.618033988749895) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.5, 0.85)


def _label_point(mask):
    """(x, y) of the pixel of `mask` farthest from its border (the image's
    edge counts as a border), where a caption sits inside the region."""
    import cv2

    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return col, row


def display_panoptic(image, panoptic, segments, class_names, title="", figsize=(16, 16),
                     ax=None, stuff_alpha=0.5, show_bbox=True, show_stuff_labels=True,
                     colors=None, save_path=None):
    """Draw an image with its panoptic segmentation.

    Stuff segments are blended in a flat colour per class
    (:func:`stuff_color`, opacity ``stuff_alpha``) and captioned with their
    class name; thing segments are drawn as :func:`display_instances` draws
    instances (mask, outline, dashed box, "name score" caption).

    Args:
        image: ``[height, width, 3]`` image, values in ``0..255``; not
            modified.
        panoptic: int ``[height, width]`` segment ids, 0 for void.
        segments: list of dicts with ``id``, ``category_id`` (an index into
            ``class_names``), ``isthing`` (1/0 or bool) and optionally
            ``score``, as :func:`mrcnn.panoptic.fuse` returns them.
        class_names: list of class names of the data set.
        title: axes title.
        figsize: figure size in inches when a figure is created here.
        ax: matplotlib axes to draw into; a new figure is made when None.
        stuff_alpha: opacity of the stuff colours.
        show_bbox: draw the things' boxes.
        show_stuff_labels: caption each stuff segment with its class name.
        colors: optional {segment id: ``(r, g, b)``} overriding colours.
        save_path: if given, save the figure there (and close it when it was
            created here) instead of calling ``plt.show()``.

    Returns:
        The matplotlib axes drawn into.

    Raises:
        ValueError: the map's size differs from the image's, it holds a
            segment id that ``segments`` lacks, or a segment's
            ``category_id`` is not an index of ``class_names``.
    """
    image = np.asarray(image)
    panoptic = np.asarray(panoptic)
    if panoptic.shape != image.shape[:2]:
        raise ValueError("display_panoptic: panoptic is {} but the image is {}x{}".format(
            panoptic.shape, image.shape[0], image.shape[1]))
    by_id = {}
    for seg in segments:
        for key in ("id", "category_id", "isthing"):
            if key not in seg:
                raise ValueError("display_panoptic: segment {!r} has no {!r}".format(seg, key))
        if not 0 <= int(seg["category_id"]) < len(class_names):
            raise ValueError("display_panoptic: segment {} has category_id {}, not an index of "
                             "class_names ({} names)".format(seg["id"], seg["category_id"],
                                                             len(class_names)))
        by_id[int(seg["id"])] = seg
    present = set(np.unique(panoptic).tolist()) - {0}
    unknown = sorted(present - set(by_id))
    if unknown:
        raise ValueError("display_panoptic: segment id(s) {} are in the map but not in "
                         "segments".format(unknown[:10]))
    colors = dict(colors or {})

    created = ax is None
    if created:
        _, ax = plt.subplots(1, figsize=figsize)

    # Stuff first, blended into the image the things are drawn over.
    canvas = np.array(image, dtype=np.uint32, copy=True)
    stuff = [s for s in segments if not s["isthing"] and int(s["id"]) in present]
    for seg in stuff:
        color = colors.get(int(seg["id"]), stuff_color(seg["category_id"]))
        apply_mask(canvas, panoptic == int(seg["id"]), color, alpha=stuff_alpha)

    things = [s for s in segments if s["isthing"] and int(s["id"]) in present]
    masks = np.stack([panoptic == int(s["id"]) for s in things], axis=2) if things else \
        np.zeros(panoptic.shape + (0,), bool)
    boxes = np.zeros((len(things), 4), np.int32)
    for i in range(len(things)):
        rows = np.flatnonzero(masks[:, :, i].any(axis=1))
        cols = np.flatnonzero(masks[:, :, i].any(axis=0))
        boxes[i] = [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]
    class_ids = np.array([int(s["category_id"]) for s in things], np.int32)
    scores = [s.get("score") for s in things]
    captions = [class_names[c] if sc is None else "{} {:.3f}".format(class_names[c], sc)
                for c, sc in zip(class_ids, scores)]
    thing_colors = random_colors(len(things))
    thing_colors = [colors.get(int(s["id"]), c) for s, c in zip(things, thing_colors)]
    if things:
        display_instances(canvas, boxes, masks, class_ids, class_names, title=title, ax=ax,
                          show_bbox=show_bbox, colors=thing_colors, captions=captions)
    else:
        height, width = image.shape[:2]
        ax.set_ylim(height + 10, -10)
        ax.set_xlim(-10, width + 10)
        ax.axis("off")
        ax.set_title(title)
        ax.imshow(canvas.astype(np.uint8))

    if show_stuff_labels:
        for seg in stuff:
            x, y = _label_point(panoptic == int(seg["id"]))
            ax.text(x, y, class_names[int(seg["category_id"])], color="w", size=11,
                    ha="center", va="center", backgroundcolor="none")
    _finish_figure(ax.figure, created, save_path)
    return ax
