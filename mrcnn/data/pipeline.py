"""Training inputs: `make_tf_dataset` feeds `keras.Model.fit` through
`tf.data` with parallel workers; `check_trainable` refuses a dataset with
nothing to train on before training waits forever for a batch.

The pieces keep matterport's names and are importable from here (and from
mrcnn.model) as before:

- mrcnn.data.sample: `load_image_gt` (an image's ground truth, resized like
  the network's input), `build_rpn_targets`, `build_training_sample` and the
  layout of a training batch: images, image_meta, rpn_match, rpn_bbox,
  gt_class_ids, gt_boxes, gt_masks (and gt_keypoints with
  config.KEYPOINT_NAMES, gt_semantic with config.NUM_STUFF_CLASSES), each
  with the batch as first axis.
- mrcnn.data.generator: matterport's Python `data_generator` with
  `generate_random_rois` and `build_detection_targets`.
"""

import numpy as np

from mrcnn.data.augment import check_augmentation
from mrcnn.data.generator import (build_detection_targets, data_generator,  # noqa: F401
                                  generate_random_rois)
from mrcnn.data.sample import (build_rpn_targets, build_training_sample,  # noqa: F401
                               check_classes, check_keypoint_augmentation, check_mask,
                               has_keypoints, load_image_gt, load_keypoints, sample_specs,
                               training_anchors)


def make_tf_dataset(dataset, config, shuffle=True, augmentation=None,
                    no_augmentation_sources=None, batch_size=None, repeat=True,
                    num_parallel_calls=None, seed=None):
    """A `tf.data.Dataset` of training batches (tuples of the 7 arrays of
    mrcnn.data.sample, 8 with keypoints or a semantic map), built with parallel workers and
    prefetching. Images whose instances all vanish are skipped.

    augmentation: an albumentations Compose, mrcnn.data.augment.RandomFlip
        or a callable (see load_image_gt); it runs in the NumPy map (in
        parallel workers), never on images whose source is in
        no_augmentation_sources.
    seed: shuffling seed (augmentation draws from its own generator).
    repeat: repeat forever (training). Then a dataset without a single
        instance to train on is a ValueError (see `check_trainable`), and
        so is an input that yields no sample with instances in
        MAX_EMPTY_PASSES passes over the images (e.g. an augmentation that
        crops every instance away), where it would otherwise wait forever.
    """
    if dataset.num_images == 0:
        raise ValueError("the dataset has no images (did you call prepare()?)")
    check_classes(dataset, config)
    augmentation = check_augmentation(augmentation)
    check_keypoint_augmentation(config, augmentation)
    batch_size = batch_size or config.BATCH_SIZE
    anchors = training_anchors(config)
    no_augmentation_sources = set(no_augmentation_sources or [])
    image_ids = np.asarray(dataset.image_ids)
    if repeat:
        # Images without instances are filtered out of the repeated input:
        # with none to train on, the filter would wait forever.
        check_trainable(dataset, image_ids)
    import tensorflow as tf  # after the checks: they fail fast without it

    empty = [np.zeros(s, d) for s, d in sample_specs(config, anchors.shape[0])]
    # Samples in a row without instances (e.g. all removed by augmentation);
    # MAX_EMPTY_PASSES passes over the images without one is an error.
    empty_run = [0]

    def load(image_id):
        image_id = int(image_id)
        source = dataset.image_info[image_id]["source"]
        aug = None if source in no_augmentation_sources else augmentation
        sample = build_training_sample(dataset, config, image_id, anchors, aug)
        if sample is None:
            empty_run[0] += 1
            if repeat and empty_run[0] > MAX_EMPTY_PASSES * len(image_ids):
                raise ValueError(
                    "{} images in a row ({} passes over the dataset) had no instance left "
                    "to train on after resizing{}: the training input would never yield "
                    "a batch".format(empty_run[0], MAX_EMPTY_PASSES,
                                     " and augmentation" if augmentation is not None else ""))
            return tuple(empty) + (False,)
        empty_run[0] = 0
        return tuple(sample) + (True,)

    specs = sample_specs(config, anchors.shape[0])
    tout = [tf.as_dtype(d) for _, d in specs] + [tf.bool]

    def tf_load(image_id):
        out = tf.numpy_function(load, [image_id], tout, stateful=True)
        for tensor, (shape, _) in zip(out, specs):
            tensor.set_shape(shape)
        out[-1].set_shape([])
        return tuple(out)

    ds = tf.data.Dataset.from_tensor_slices(image_ids)
    if repeat:
        ds = ds.repeat()
    if shuffle:
        ds = ds.shuffle(max(len(image_ids), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(tf_load, num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
                deterministic=not shuffle)
    ds = ds.filter(_has_instances).map(_drop_flag)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


# make_tf_dataset gives up after this many passes over the images in a row
# without a single trainable sample.
MAX_EMPTY_PASSES = 10


def check_trainable(dataset, image_ids=None):
    """Raise a ValueError when no image of `dataset` has an instance to train
    on (a positive class id from load_mask with a non-empty mask): training
    would wait forever for a batch. The message says when all the instances are crowd regions
    (negative ids, e.g. a CVAT "COCO 1.0" export, which writes masks as
    iscrowd: 1). Stops at the first image with an instance."""
    image_ids = dataset.image_ids if image_ids is None else image_ids
    crowd = images_with_crowd = 0
    for image_id in image_ids:
        masks, class_ids = dataset.load_mask(int(image_id))
        class_ids, masks = np.asarray(class_ids), np.asarray(masks)
        if masks.ndim == 3 and masks.shape[-1] == class_ids.shape[0]:
            class_ids = class_ids[np.any(masks, axis=(0, 1))]  # drop empty masks
        if np.any(class_ids > 0):
            return
        n = int(np.sum(class_ids < 0))
        crowd += n
        images_with_crowd += n > 0
    message = "the dataset ({}) has no instance to train on in its {} images".format(
        type(dataset).__name__, len(image_ids))
    if crowd:
        message += (": all {} of its instances (in {} images) are crowd regions (COCO "
                    "iscrowd: 1), which training ignores. Exporters such as CVAT write "
                    "masks as crowd RLE; load them as instances with "
                    "load_coco_json(..., crowd_as_instances=True) or mrcnn train "
                    "--crowd-as-instances".format(crowd, images_with_crowd))
    else:
        message += " (every image has no annotation, or only ones without pixels)"
    raise ValueError(message)


def _has_instances(*sample):
    return sample[-1]


def _drop_flag(*sample):
    return sample[:-1]
