"""Drawing helpers for Mask R-CNN detections and data set samples.

The public functions keep the names, signatures and defaults of matterport's
``mrcnn.visualize`` so existing notebooks and scripts keep working:

* :func:`random_colors` - distinct colours for instances.
* :func:`apply_mask` - blend one binary mask into an image array.
* :func:`display_instances` - image with boxes, captions, masks and outlines.
* :func:`display_images` - a grid of images with titles.
* :func:`draw_box` - burn a box outline into an image array.
* :func:`display_differences` - ground truth (green) and predictions (red)
  on one image, captioned with score / IoU.
* :func:`draw_boxes` - anchors/proposals and their refinements, masks.
* :func:`draw_rois` - training RoIs (DetectionTargetLayer output) with their
  refined boxes and target masks.
* :func:`display_top_masks` - the image beside its largest classes' masks.
* :func:`plot_precision_recall` - the precision/recall curve of
  ``utils.compute_ap``.
* :func:`plot_overlaps` - the IoU grid of predictions against ground truth.
* :func:`display_table` / :func:`display_weight_stats` - tables (HTML in a
  notebook, text elsewhere), e.g. per-weight min/max/std of a model.
* :func:`read_tensorboard_scalars` / :func:`plot_training_curves` - the loss
  curves written by ``MaskRCNN.train``'s TensorBoard callback.

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
import glob
import html as _html
import itertools
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
from matplotlib import lines, patches  # noqa: E402
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


############################################################
#  Ground truth against predictions
############################################################

def display_differences(image,
                        gt_box, gt_class_id, gt_mask,
                        pred_box, pred_class_id, pred_score, pred_mask,
                        class_names, title="", ax=None,
                        show_mask=True, show_box=True,
                        iou_threshold=0.5, score_threshold=0.5, save_path=None):
    """Draw ground truth (green) and predictions (red) on one image.

    Predictions are matched to ground truth with ``utils.compute_matches``;
    each prediction's caption is ``"score / IoU"`` (the IoU with its match,
    or its best overlap when unmatched). Arguments are those of
    :func:`display_instances` for the two sets.

    Returns:
        The matplotlib axes drawn into.
    """
    from mrcnn import utils

    gt_match, pred_match, overlaps = utils.compute_matches(
        gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
        iou_threshold=iou_threshold, score_threshold=score_threshold)
    n_gt, n_pred = len(gt_box), len(pred_box)
    colors = [(0, 1, 0, .8)] * n_gt + [(1, 0, 0, 1)] * n_pred
    class_ids = np.concatenate([np.asarray(gt_class_id), np.asarray(pred_class_id)])
    scores = np.concatenate([np.zeros([n_gt]), np.asarray(pred_score, dtype=float)])
    boxes = np.concatenate([np.reshape(gt_box, (-1, 4)), np.reshape(pred_box, (-1, 4))])
    masks = np.concatenate([gt_mask, pred_mask], axis=-1)
    captions = [""] * n_gt
    for i in range(n_pred):
        if pred_match[i] > -1:
            iou = overlaps[i, int(pred_match[i])]
        else:
            iou = overlaps[i].max() if overlaps.shape[1] else 0.0
        captions.append("{:.2f} / {:.2f}".format(pred_score[i], iou))
    title = title or "Ground truth and detections\nGT=green, pred=red, captions: score/IoU"
    return display_instances(image, boxes, masks, class_ids, class_names, scores,
                             ax=ax, show_bbox=show_box, show_mask=show_mask,
                             colors=colors, captions=captions, title=title,
                             save_path=save_path)


def draw_rois(image, rois, refined_rois, mask, class_ids, class_names, limit=10,
              save_path=None):
    """Draw training RoIs: dashed boxes (gray for background RoIs), the box
    refined by the target deltas (solid) for positive ones, joined by a line
    at their top-left corners, with the class name and target mask.

    Args:
        image: ``[height, width, 3]`` image the RoIs are in (pixels).
        rois: ``[N, (y1, x1, y2, x2)]`` RoIs in pixels.
        refined_rois: ``[N, 4]`` the RoIs after applying their target deltas.
        mask: ``[N, mask_h, mask_w]`` box-relative target masks (of the RoI's
            class), as DetectionTargetLayer returns them.
        class_ids: ``[N]`` target class of each RoI (0: background).
        class_names: list of class names.
        limit: draw at most this many RoIs, picked at random with
            ``np.random`` (seed it for a repeatable choice).
        save_path: save the figure there and close it instead of showing it.

    Prints the positive/negative counts and returns the axes.
    """
    from mrcnn import utils

    rois = np.asarray(rois)
    class_ids = np.asarray(class_ids)
    masked_image = np.array(image, dtype=np.uint32, copy=True)
    ids = np.arange(rois.shape[0], dtype=np.int32)
    if ids.shape[0] > limit:
        ids = np.random.choice(ids, limit, replace=False)
    fig, ax = plt.subplots(1, figsize=(12, 12))
    if rois.shape[0] > limit:
        ax.set_title("Showing {} random RoIs out of {}".format(len(ids), rois.shape[0]))
    else:
        ax.set_title("{} RoIs".format(len(ids)))
    ax.set_ylim(image.shape[0] + 20, -20)
    ax.set_xlim(-50, image.shape[1] + 20)
    ax.axis("off")
    colors = random_colors(max(1, len(ids)))
    for color, i in zip(colors, ids):
        class_id = int(class_ids[i])
        y1, x1, y2, x2 = rois[i]
        ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2,
                                       edgecolor=color if class_id else "gray",
                                       facecolor="none", linestyle="dashed"))
        if not class_id:
            continue
        ry1, rx1, ry2, rx2 = refined_rois[i]
        ax.add_patch(patches.Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2,
                                       edgecolor=color, facecolor="none"))
        ax.add_line(lines.Line2D([x1, rx1], [y1, ry1], color=color))
        ax.text(rx1, ry1 + 8, str(class_names[class_id]), color="w", size=11,
                backgroundcolor="none")
        box = np.round(rois[i][:4]).astype(np.int32)
        box = np.clip(box, 0, [image.shape[0], image.shape[1]] * 2)
        if box[2] > box[0] and box[3] > box[1]:
            full = utils.unmold_mask(np.asarray(mask[i], np.float32), box, image.shape)
            masked_image = apply_mask(masked_image, full, color)
    ax.imshow(masked_image.astype(np.uint8))
    positive = int(np.sum(class_ids > 0))
    print("Positive ROIs: ", positive)
    print("Negative ROIs: ", int(np.sum(class_ids == 0)))
    if class_ids.shape[0]:
        print("Positive Ratio: {:.2f}".format(positive / class_ids.shape[0]))
    _finish_figure(fig, True, save_path)
    return ax


def draw_boxes(image, boxes=None, refined_boxes=None,
               masks=None, captions=None, visibilities=None,
               title="", ax=None, save_path=None):
    """Draw boxes (dotted), their refinements (solid, joined to the box at
    the top-left corner), captions and masks.

    Args:
        image: ``[height, width, 3]`` image.
        boxes: ``[N, (y1, x1, y2, x2)]`` in pixels (e.g. anchors).
        refined_boxes: ``[N, 4]`` the same boxes refined (e.g. proposals).
        masks: ``[height, width, N]`` masks to blend in.
        captions: ``N`` strings, written on the refined box if given.
        visibilities: ``N`` values 0 (gray, faint), 1 (dotted) or 2 (solid)
            saying how prominent each box is; refined boxes are skipped for 0.
        title: as in :func:`display_instances`.
        ax: as in :func:`display_instances`.
        save_path: save the figure there (closing it when created here).

    At least one of ``boxes`` and ``refined_boxes`` is needed. Returns the
    axes.
    """
    if boxes is None and refined_boxes is None:
        raise ValueError("draw_boxes needs boxes or refined_boxes")
    N = len(boxes) if boxes is not None else len(refined_boxes)
    created = ax is None
    if created:
        _, ax = plt.subplots(1, figsize=(12, 12))
    colors = random_colors(N)
    margin = image.shape[0] // 10
    ax.set_ylim(image.shape[0] + margin, -margin)
    ax.set_xlim(-margin, image.shape[1] + margin)
    ax.axis("off")
    ax.set_title(title)
    masked_image = np.array(image, dtype=np.uint32, copy=True)
    styles = {0: ("dotted", 0.5), 1: ("dotted", 1.0), 2: ("solid", 1.0)}
    for i in range(N):
        visibility = int(visibilities[i]) if visibilities is not None else 1
        if visibility not in styles:
            raise ValueError("visibilities must be 0, 1 or 2, got {}".format(visibility))
        style, alpha = styles[visibility]
        color = "gray" if visibility == 0 else colors[i]
        x1 = y1 = None
        if boxes is not None:
            if not np.any(boxes[i]):
                continue
            y1, x1, y2, x2 = boxes[i]
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2,
                                           alpha=alpha, linestyle=style, edgecolor=color,
                                           facecolor="none"))
        if refined_boxes is not None and visibility > 0:
            ry1, rx1, ry2, rx2 = np.asarray(refined_boxes[i]).astype(np.int32)
            ax.add_patch(patches.Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2,
                                           edgecolor=color, facecolor="none"))
            if x1 is not None:
                ax.add_line(lines.Line2D([x1, rx1], [y1, ry1], color=color))
            x1, y1 = rx1, ry1
        if captions is not None and x1 is not None:
            ax.text(x1, y1, captions[i], size=11, verticalalignment="top", color="w",
                    backgroundcolor="none",
                    bbox={"facecolor": color, "alpha": 0.5, "pad": 2, "edgecolor": "none"})
        if masks is not None:
            mask = masks[:, :, i]
            masked_image = apply_mask(masked_image, mask, color if visibility else
                                      (0.5, 0.5, 0.5))
            padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
            padded[1:-1, 1:-1] = mask
            for verts in find_contours(padded, 0.5):
                ax.add_patch(patches.Polygon(np.fliplr(verts) - 1, facecolor="none",
                                             edgecolor=color))
    ax.imshow(masked_image.astype(np.uint8))
    _finish_figure(ax.figure, created, save_path)
    return ax


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


def plot_precision_recall(AP, precisions, recalls, ax=None, save_path=None):
    """Plot the precision/recall curve returned by ``utils.compute_ap``,
    titled with the AP. Returns the axes."""
    created = ax is None
    if created:
        _, ax = plt.subplots(1)
    ax.set_title("Precision-Recall Curve. AP@50 = {:.3f}".format(AP))
    ax.set_ylim(0, 1.1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.plot(recalls, precisions)
    _finish_figure(ax.figure, created, save_path)
    return ax


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores,
                  overlaps, class_names, threshold=0.5, save_path=None):
    """Draw the IoU grid of predictions (rows) against ground truth
    (columns), as ``utils.compute_matches`` returns it. Cells above
    ``threshold`` are labelled "match" (same class) or "wrong".

    Class id 0 (padding) is dropped from both id lists, as matterport did.
    Returns the figure.
    """
    gt_class_ids = np.asarray(gt_class_ids)
    pred_class_ids = np.asarray(pred_class_ids)
    gt_class_ids = gt_class_ids[gt_class_ids != 0]
    pred_class_ids = pred_class_ids[pred_class_ids != 0]
    overlaps = np.asarray(overlaps)
    fig, ax = plt.subplots(1, figsize=(12, 10))
    ax.imshow(overlaps, interpolation="nearest", cmap=plt.cm.Blues, vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(pred_class_ids)))
    ax.set_yticklabels(["{} ({:.2f})".format(class_names[int(c)], pred_scores[i])
                        for i, c in enumerate(pred_class_ids)])
    ax.set_xticks(np.arange(len(gt_class_ids)))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    half = overlaps.max() / 2. if overlaps.size else 0
    for i, j in itertools.product(range(overlaps.shape[0]), range(overlaps.shape[1])):
        text = ""
        if overlaps[i, j] > threshold:
            text = "match" if gt_class_ids[j] == pred_class_ids[i] else "wrong"
        color = ("white" if overlaps[i, j] > half
                 else "black" if overlaps[i, j] > 0 else "grey")
        ax.text(j, i, "{:.3f}\n{}".format(overlaps[i, j], text),
                horizontalalignment="center", verticalalignment="center",
                fontsize=9, color=color)
    ax.set_xlabel("Ground Truth")
    ax.set_ylabel("Predictions")
    fig.tight_layout()
    _finish_figure(fig, True, save_path)
    return fig


############################################################
#  Tables
############################################################

def _in_notebook():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def display_table(table):
    """Show rows of values as a table: HTML in a Jupyter notebook, aligned
    text elsewhere. Cell values may contain HTML in a notebook (e.g. the red
    alerts of :func:`display_weight_stats`); tags are stripped from the text
    form.

    Returns the HTML string.
    """
    rows = [[str(col) for col in row] for row in table]
    html = "<table>" + "".join(
        "<tr>" + "".join("<td>{:40}</td>".format(col) for col in row) + "</tr>"
        for row in rows) + "</table>"
    if _in_notebook():
        import IPython.display
        IPython.display.display(IPython.display.HTML(html))
    else:
        import re
        plain = [[_html.unescape(re.sub(r"<[^>]+>", "", col)) for col in row] for row in rows]
        widths = [max(len(r[k]) for r in plain if k < len(r))
                  for k in range(max((len(r) for r in plain), default=0))]
        for row in plain:
            print("  ".join(col.ljust(widths[k]) for k, col in enumerate(row)).rstrip())
    return html


def display_weight_stats(model):
    """Table of every weight of the model's layers that have weights: name,
    shape, min, max and standard deviation, flagging weights that are
    constant ("dead?", except conv biases) or beyond +-1000 ("Overflow?").

    model: a MaskRCNN (its ``get_trainable_layers()``) or a Keras model.
    Returns the table's rows (header first), after showing them with
    :func:`display_table`.
    """
    if hasattr(model, "get_trainable_layers"):
        layers = model.get_trainable_layers()
    else:
        layers = [l for l in model.layers if l.get_weights()]
    table = [["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]]
    for layer in layers:
        for k, (w, var) in enumerate(zip(layer.get_weights(), layer.weights)):
            name = getattr(var, "path", None) or var.name
            alert = ""
            is_bias = layer.__class__.__name__ == "Conv2D" and k == 1
            if w.size and w.min() == w.max() and not is_bias:
                alert += "<span style='color:red'>*** dead?</span>"
            if w.size and (np.abs(w.min()) > 1000 or np.abs(w.max()) > 1000):
                alert += "<span style='color:red'>*** Overflow?</span>"
            table.append([name + alert, str(w.shape),
                          "{:+9.4f}".format(w.min() if w.size else 0),
                          "{:+10.4f}".format(w.max() if w.size else 0),
                          "{:+9.4f}".format(w.std() if w.size else 0)])
    display_table(table)
    return table


############################################################
#  Training curves
############################################################

def read_tensorboard_scalars(log_dir):
    """Read the scalars of the TensorBoard event files under ``log_dir``
    (a training run's directory, e.g. ``model.log_dir``).

    Returns ``{run: {tag: [(step, value), ...]}}`` where run is the
    sub-directory (``"train"``, ``"validation"``), steps sorted; a later
    value for the same step (a resumed run) replaces the earlier one.
    """
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    paths = sorted(glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"),
                             recursive=True))
    if not paths:
        raise FileNotFoundError("no TensorBoard event files under {}".format(log_dir))
    scalars = {}
    for path in paths:
        run = os.path.relpath(os.path.dirname(path), log_dir)
        run = "." if run == os.curdir else run
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = float(value.simple_value)
                elif kind == "tensor":
                    array = tf.make_ndarray(value.tensor)
                    if array.size != 1 or array.dtype.kind not in "fiu":
                        continue
                    number = float(array.reshape(()))
                else:
                    continue
                scalars.setdefault(run, {}).setdefault(value.tag, {})[int(event.step)] = number
    return {run: {tag: sorted(steps.items()) for tag, steps in tags.items()}
            for run, tags in scalars.items()}


def plot_training_curves(log_dir, tags=None, save_path=None):
    """Plot the per-epoch losses written while training (one panel per
    loss, train and validation together).

    log_dir: a training run's directory (``model.log_dir``).
    tags: loss names to plot, e.g. ``["loss", "mrcnn_mask_loss"]``
        (default: every ``epoch_*`` scalar but the learning rate).
    Returns the figure.
    """
    scalars = read_tensorboard_scalars(log_dir)
    if tags is None:
        names = sorted({t[len("epoch_"):] for runs in scalars.values() for t in runs
                        if t.startswith("epoch_") and t != "epoch_learning_rate"})
        if "loss" in names:
            names.remove("loss")
            names.insert(0, "loss")
    else:
        names = list(tags)
    if not names:
        raise ValueError("no epoch_* scalars in {}".format(log_dir))
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for run in sorted(scalars):
            points = scalars[run].get("epoch_" + name)
            if points:
                steps, values = zip(*points)
                ax.plot(np.asarray(steps) + 1, values, marker="o", label=run)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    _finish_figure(fig, True, save_path)
    return fig
