"""Boxes, RoIs and ground truth against predictions.

:func:`draw_box` burns a box into an image array; :func:`display_differences`
draws ground truth and predictions on one image; :func:`draw_boxes` and
:func:`draw_rois` show anchors, proposals and training RoIs with their
refinements, the views matterport's ``inspect_model`` notebook steps through.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import lines, patches

from mrcnn.visualize.instances import (
    _draw_outline, _finish_figure, apply_mask, display_instances, random_colors)


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
    from mrcnn.ap import compute_matches

    gt_match, pred_match, overlaps = compute_matches(
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
    from mrcnn.masks import unmold_mask

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
            full = unmold_mask(np.asarray(mask[i], np.float32), box, image.shape)
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
            _draw_outline(ax, mask, color)
    ax.imshow(masked_image.astype(np.uint8))
    _finish_figure(ax.figure, created, save_path)
    return ax
