"""Drawing keypoints (Keypoint R-CNN): points and skeleton lines over the
instances of :func:`display_instances`.

:func:`display_keypoints` takes detect()'s ``"keypoints"`` (``[N, K, (x, y,
score)]``) or a dataset's ``load_keypoints`` (``[N, K, (x, y, v)]``), both in
the continuous pixel frame of the masks (a pixel's centre is at ``+ 0.5``,
see docs/keypoints.md).
"""

import matplotlib.pyplot as plt
import numpy as np

from mrcnn.visualize.instances import _finish_figure, display_instances, random_colors


def _skeleton_indices(skeleton, keypoint_names, num_keypoints):
    """Skeleton edges as index pairs: pairs of names (config.KEYPOINT_SKELETON,
    dataset.keypoint_skeleton) looked up in `keypoint_names`, or pairs of
    0-based indices. A ValueError names an unknown name or index."""
    edges = []
    for pair in skeleton or ():
        if len(pair) != 2:
            raise ValueError("skeleton edge {!r}: expected a pair".format(pair))
        if all(isinstance(p, str) for p in pair):
            if keypoint_names is None:
                raise ValueError("skeleton edge {!r} names keypoints: pass "
                                 "keypoint_names".format(tuple(pair)))
            names = list(keypoint_names)
            unknown = [p for p in pair if p not in names]
            if unknown:
                raise ValueError("skeleton edge {!r}: {} not in keypoint_names".format(
                    tuple(pair), ", ".join(map(repr, unknown))))
            edges.append((names.index(pair[0]), names.index(pair[1])))
        else:
            a, b = int(pair[0]), int(pair[1])
            if not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
                raise ValueError("skeleton edge {!r}: indices must be in 0..{}".format(
                    tuple(pair), num_keypoints - 1))
            edges.append((a, b))
    return edges


def display_keypoints(image, boxes, masks, class_ids, class_names, keypoints,
                      skeleton=None, keypoint_names=None, scores=None, ax=None,
                      threshold=0.0, title="", figsize=(16, 16), show_mask=True,
                      show_bbox=True, show_names=False, colors=None, point_size=4.0,
                      line_width=1.5, save_path=None):
    """Draw an image with its instances (as :func:`display_instances`), each
    instance's keypoints as dots and its skeleton as lines.

    Args:
        image: ``[height, width, 3]`` image, values in ``0..255``; not modified.
        boxes: ``[N, (y1, x1, y2, x2)]`` boxes in pixels (all-zero rows are
            skipped), as for :func:`display_instances`.
        masks: ``[height, width, N]`` masks, or None (no masks drawn).
        class_ids: ``[N]`` class ids, indices into ``class_names``.
        class_names: the data set's class names.
        keypoints: ``[N, K, 3]``: ``(x, y, score)`` from detect() or
            ``(x, y, v)`` from ``load_keypoints``, in pixels; a point is drawn
            when its third value is above ``threshold`` (the default 0 hides
            unlabelled ``v = 0`` points and zero rows of classes without
            keypoints).
        skeleton: edges to draw between two drawn points of an instance:
            pairs of names of ``keypoint_names`` (e.g.
            ``config.KEYPOINT_SKELETON``) or of 0-based indices.
        keypoint_names: the names of the K keypoints (``config.KEYPOINT_NAMES``).
        scores: optional ``[N]`` confidences for the captions.
        ax: matplotlib axes to draw into; a new figure is made when None.
        threshold: the lowest point score or visibility drawn (exclusive).
        title: axes title.
        figsize: figure size in inches when a figure is created here.
        show_mask: blend the masks into the image.
        show_bbox: draw dashed box rectangles.
        show_names: write each drawn point's name beside it.
        colors: optional ``N`` ``(r, g, b)`` colours in ``[0, 1]``; an
            instance's box, mask, points and lines take its colour.
        point_size: marker size of the points, in points.
        line_width: width of the skeleton lines, in points.
        save_path: if given, save the figure there (and close it when it was
            created here) instead of calling ``plt.show()``.

    Returns:
        The matplotlib axes drawn into.

    Raises:
        ValueError: if ``keypoints`` is not ``[N, K, 3]`` for the N boxes, or
            a skeleton edge is unknown.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    n = 0 if boxes is None else np.shape(boxes)[0]
    if keypoints.size == 0 and n == 0:
        # No instances (an image without detections, or a bare empty list):
        # K is whatever the names say.
        k = len(keypoint_names) if keypoint_names is not None else (
            keypoints.shape[1] if keypoints.ndim == 3 else 0)
        keypoints = np.zeros((0, k, 3), np.float32)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3 or keypoints.shape[0] != n:
        raise ValueError("keypoints must be [N, K, 3] for the {} boxes, got shape {}".format(
            n, keypoints.shape))
    k = keypoints.shape[1]
    if keypoint_names is not None and len(keypoint_names) != k:
        raise ValueError("{} keypoint_names for {} keypoints per instance".format(
            len(keypoint_names), k))
    edges = _skeleton_indices(skeleton, keypoint_names, k)
    created = ax is None
    if created:
        _, ax = plt.subplots(1, figsize=figsize)
    colors = colors if colors is not None else random_colors(n)
    if masks is None:
        masks = np.zeros(tuple(image.shape[:2]) + (n,), bool)
        show_mask = False
    display_instances(image, boxes, masks, class_ids, class_names, scores=scores,
                      title=title, ax=ax, show_mask=show_mask, show_bbox=show_bbox,
                      colors=colors)
    for i in range(n):
        if not np.any(boxes[i]):
            continue  # display_instances skips these rows too
        x, y, value = keypoints[i, :, 0], keypoints[i, :, 1], keypoints[i, :, 2]
        shown = value > threshold
        for a, b in edges:
            if shown[a] and shown[b]:
                ax.plot([x[a], x[b]], [y[a], y[b]], color=colors[i], linewidth=line_width,
                        alpha=0.9, solid_capstyle="round")
        if shown.any():
            ax.plot(x[shown], y[shown], linestyle="none", marker="o",
                    markersize=point_size, markerfacecolor=colors[i],
                    markeredgecolor="white", markeredgewidth=0.5)
        if show_names and keypoint_names is not None:
            for j in np.where(shown)[0]:
                ax.text(x[j] + 2, y[j] - 2, str(keypoint_names[j]), color="w", size=7)
    _finish_figure(ax.figure, created, save_path)
    return ax
