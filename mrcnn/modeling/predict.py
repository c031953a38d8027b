"""detect()'s loop around the inference graph: check the images, run the
network on molded images grouped by shape (BATCH_SIZE at a time), and
unmold each image's outputs: boxes, class ids, scores and masks
(mrcnn.molding.unmold_detections), then what each RoI head adds
(`RoIHead.unmold_result`, by default `RoIHead.unmold`: e.g. the keypoint
head's "keypoints", the semantic head's "semantic" and "panoptic")."""

from collections import OrderedDict

import numpy as np

from mrcnn.molding import unmold_detections


def check_images(images, config):
    """Validate detect()'s images and convert each with
    mrcnn.data.images.to_model_image to uint8 [H, W, IMAGE_CHANNEL_COUNT]
    (gray/RGBA -> RGB, 16-bit -> x // 257, float [0, 1] or [0, 255], NaN/inf
    and empty images refused; 8-bit RGB passes unchanged)."""
    from mrcnn.data.images import to_model_image

    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and not (
            images.ndim == 3 and images.shape[-1] > 4):
        raise ValueError("detect() takes a list of images; wrap a single image in a list")
    channels = int(config.IMAGE_CHANNEL_COUNT)
    return [to_model_image(image, channels, name="image {}".format(i))
            for i, image in enumerate(images)]


def detect_molded_batches(predict, get_anchors, heads, batch_size, molded_images,
                          image_metas, original_shapes, windows):
    """Per-image results of molded images.

    predict(images, metas, anchors) -> the network's outputs by name;
    get_anchors(molded shape) -> normalised anchors; heads: the RoI heads
    (mrcnn.heads.build_roi_heads). Images of one shape run together,
    `batch_size` at a time. Returns a list of dicts (rois, class_ids,
    scores, masks, and the heads' additions) in the order of the images.
    """
    results = [None] * len(molded_images)
    groups = OrderedDict()
    for i, image in enumerate(molded_images):
        groups.setdefault(image.shape, []).append(i)
    for shape, indices in groups.items():
        anchors = get_anchors(shape)
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            outputs = predict(np.stack([molded_images[i] for i in chunk]),
                              np.stack([image_metas[i] for i in chunk]),
                              np.broadcast_to(anchors, (len(chunk),) + anchors.shape))
            for j, i in enumerate(chunk):
                image_outputs = {name: value[j] for name, value in outputs.items()}
                rois, class_ids, scores, masks = unmold_detections(
                    image_outputs["detections"], image_outputs["mrcnn_mask"],
                    original_shapes[i], shape, windows[i])
                results[i] = {"rois": rois, "class_ids": class_ids, "scores": scores,
                              "masks": masks}
                for head in heads:
                    results[i].update(head.unmold_result(results[i], image_outputs,
                                                         original_shapes[i], shape, windows[i]))
    return results
