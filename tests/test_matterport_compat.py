"""matterport's notebooks, cell by cell: the calls of inspect_data,
inspect_model, inspect_weights, train_shapes and demo, spelled as matterport
spelled them (only the imports differ), on a small untrained model and a
dataset class written the way train_shapes.ipynb writes its own.

What cannot exist in Keras 3 (tensors inside a layer looked up by their TF 1
names, tf.identity on a layer output) is checked to fail clearly and to have
its replacement, shown in docs/migrating-from-matterport.md, work."""
import math
import os
import random

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# matterport's imports, unchanged
from mrcnn import utils  # noqa: E402
import mrcnn.model as modellib  # noqa: E402
from mrcnn import visualize  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.model import log  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


############################################################
#  train_shapes.ipynb: the config and the dataset class, as users write them
############################################################

class ShapesConfig(Config):
    NAME = "shapes"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2
    NUM_CLASSES = 1 + 3
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 32
    STEPS_PER_EPOCH = 100
    VALIDATION_STEPS = 5


class InferenceConfig(ShapesConfig):
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1
    DETECTION_MIN_CONFIDENCE = 0.0  # untrained: keep what comes out
    POST_NMS_ROIS_INFERENCE = 200


class ShapesDataset(utils.Dataset):
    """Images drawn in memory (path=None), the classic custom-dataset recipe."""

    def load_shapes(self, count, height, width):
        self.add_class("shapes", 1, "square")
        self.add_class("shapes", 2, "circle")
        self.add_class("shapes", 3, "triangle")
        rng = random.Random(count)
        for i in range(count):
            shapes = []
            for _ in range(rng.randint(1, 3)):
                shape = rng.choice(["square", "circle", "triangle"])
                color = tuple(rng.randint(60, 255) for _ in range(3))
                y, x, s = rng.randint(25, height - 25), rng.randint(25, width - 25), \
                    rng.randint(8, 20)
                shapes.append((shape, color, (x, y, s)))
            self.add_image("shapes", image_id=i, path=None, width=width, height=height,
                           bg_color=np.array([20, 30, 40]), shapes=shapes)

    def _draw(self, shape, dims, height, width):
        x, y, s = dims
        yy, xx = np.mgrid[:height, :width]
        if shape == "square":
            return (abs(yy - y) <= s) & (abs(xx - x) <= s)
        if shape == "circle":
            return (yy - y) ** 2 + (xx - x) ** 2 <= s * s
        return (yy >= y - s) & (yy <= y + s) & (abs(xx - x) <= (yy - (y - s)) / 2)

    def load_image(self, image_id):
        info = self.image_info[image_id]
        image = np.ones([info["height"], info["width"], 3], np.uint8) * info["bg_color"]
        for shape, color, dims in info["shapes"]:
            image[self._draw(shape, dims, info["height"], info["width"])] = color
        return image.astype(np.uint8)

    def image_reference(self, image_id):
        info = self.image_info[image_id]
        if info["source"] == "shapes":
            return info["shapes"]
        return super(self.__class__).image_reference(self, image_id)

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        shapes = info["shapes"]
        mask = np.zeros([info["height"], info["width"], len(shapes)], dtype=np.uint8)
        for i, (shape, _, dims) in enumerate(shapes):
            mask[:, :, i] = self._draw(shape, dims, info["height"], info["width"])
        # Handle occlusions: later shapes cover earlier ones
        occlusion = np.logical_not(mask[:, :, -1]).astype(np.uint8)
        for i in range(len(shapes) - 2, -1, -1):
            mask[:, :, i] = mask[:, :, i] * occlusion
            occlusion = np.logical_and(occlusion, np.logical_not(mask[:, :, i]))
        class_ids = np.array([self.class_names.index(s[0]) for s in shapes])
        return mask.astype(bool), class_ids.astype(np.int32)


def get_ax(rows=1, cols=1, size=8):
    _, ax = plt.subplots(rows, cols, figsize=(size * cols, size * rows))
    return ax


def drew_something(ax):
    """The axes hold an image that is not blank."""
    ax.figure.canvas.draw()
    pixels = np.asarray(ax.figure.canvas.buffer_rgba())[..., :3]
    return pixels.std() > 5


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def dataset():
    dataset_val = ShapesDataset()
    dataset_val.load_shapes(6, 128, 128)
    dataset_val.prepare()
    return dataset_val


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """inspect_model.ipynb / demo.ipynb: an inference model with default
    backbone (resnet101), weights loaded by name from an .h5 file."""
    from mrcnn.weights import save_weights

    model_dir = str(tmp_path_factory.mktemp("logs"))
    config = InferenceConfig()
    model = modellib.MaskRCNN(mode="inference", config=config, model_dir=model_dir)
    weights_path = os.path.join(model_dir, "mask_rcnn_shapes.h5")
    save_weights(model.keras_model, weights_path)
    model.load_weights(weights_path, by_name=True)
    return model


############################################################
#  inspect_data.ipynb
############################################################

def test_inspect_data_cells(dataset, capsys):
    config = ShapesConfig()
    config.display()
    assert "IMAGE_SHAPE" in capsys.readouterr().out
    print("Image Count: {}".format(len(dataset.image_ids)))
    print("Class Count: {}".format(dataset.num_classes))
    for i, info in enumerate(dataset.class_info):
        print("{:3}. {:50}".format(i, info["name"]))

    image_ids = np.random.choice(dataset.image_ids, 4)
    for image_id in image_ids:
        image = dataset.load_image(image_id)
        mask, class_ids = dataset.load_mask(image_id)
        visualize.display_top_masks(image, mask, class_ids, dataset.class_names)

    image_id = random.choice(dataset.image_ids)
    image = dataset.load_image(image_id)
    mask, class_ids = dataset.load_mask(image_id)
    bbox = utils.extract_bboxes(mask)
    print("image_id ", image_id, dataset.image_reference(image_id))
    log("image", image)
    log("mask", mask)
    log("class_ids", class_ids)
    log("bbox", bbox)
    ax = get_ax()
    visualize.display_instances(image, bbox, mask, class_ids, dataset.class_names, ax=ax)
    assert drew_something(ax)

    # Resizing
    image, window, scale, padding, _ = utils.resize_image(
        image, min_dim=config.IMAGE_MIN_DIM, max_dim=config.IMAGE_MAX_DIM,
        mode=config.IMAGE_RESIZE_MODE)
    mask = utils.resize_mask(mask, scale, padding)
    assert image.shape == (128, 128, 3) and mask.shape[:2] == (128, 128)

    # Mini masks
    image, image_meta, class_ids, bbox, mask = modellib.load_image_gt(
        dataset, config, image_id, use_mini_mask=False)
    log("image", image)
    log("image_meta", image_meta)
    visualize.display_images([image] + [mask[:, :, i] for i in range(min(mask.shape[-1], 7))])
    mini = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    expanded = utils.expand_mask(bbox, mini, image.shape)
    assert expanded.shape == mask.shape
    assert np.mean(expanded == mask) > 0.95
    with pytest.warns(DeprecationWarning):
        image, image_meta, class_ids, bbox, mask = modellib.load_image_gt(
            dataset, config, image_id, augment=True, use_mini_mask=True)
    assert mask.shape[:2] == config.MINI_MASK_SHAPE

    # Anchors
    backbone_shapes = modellib.compute_backbone_shapes(config, config.IMAGE_SHAPE)
    anchors = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES,
                                             config.RPN_ANCHOR_RATIOS,
                                             backbone_shapes,
                                             config.BACKBONE_STRIDES,
                                             config.RPN_ANCHOR_STRIDE)
    num_levels = len(backbone_shapes)
    anchors_per_cell = len(config.RPN_ANCHOR_RATIOS)
    print("Count: ", anchors.shape[0])
    print("Scales: ", config.RPN_ANCHOR_SCALES)
    print("ratios: ", config.RPN_ANCHOR_RATIOS)
    print("Anchors per Cell: ", anchors_per_cell)
    print("Levels: ", num_levels)
    anchors_per_level = []
    for level in range(num_levels):
        num_cells = backbone_shapes[level][0] * backbone_shapes[level][1]
        anchors_per_level.append(anchors_per_cell * num_cells // config.RPN_ANCHOR_STRIDE**2)
    assert sum(anchors_per_level) == anchors.shape[0]
    level_start = sum(anchors_per_level[:2])
    level_anchors = anchors[level_start:level_start + anchors_per_level[2]]
    ax = get_ax()
    visualize.draw_boxes(image, boxes=level_anchors[:20], ax=ax)

    # Data generator: the 7 batch arrays
    g = modellib.data_generator(dataset, config, shuffle=True, batch_size=2)
    inputs, outputs = next(g)
    normalized_images, image_meta, rpn_match, rpn_bbox, gt_class_ids, gt_boxes, gt_masks = \
        inputs
    log("rpn_match", rpn_match)
    log("gt_boxes", gt_boxes)
    b = 0
    sample_image = modellib.unmold_image(normalized_images[b], config)
    image_id = modellib.parse_image_meta(image_meta)["image_id"][b]
    positive_anchor_ids = np.where(rpn_match[b] == 1)[0]
    assert len(positive_anchor_ids) > 0
    refined_anchors = utils.apply_box_deltas(
        anchors[positive_anchor_ids],
        rpn_bbox[b, :len(positive_anchor_ids)] * config.RPN_BBOX_STD_DEV)
    ax = get_ax()
    visualize.draw_boxes(sample_image, boxes=anchors[positive_anchor_ids],
                         refined_boxes=refined_anchors, ax=ax)
    assert drew_something(ax)

    # Data generator with random RoIs and their detection targets
    random_rois = 2000
    g = modellib.data_generator(
        dataset, config, shuffle=True, random_rois=random_rois,
        batch_size=4,
        detection_targets=True)
    if random_rois:
        [normalized_images, image_meta, rpn_match, rpn_bbox, gt_class_ids, gt_boxes, gt_masks,
         rpn_rois, rois], [mrcnn_class_ids, mrcnn_bbox, mrcnn_mask] = next(g)
        log("rois", rois)
        log("mrcnn_class_ids", mrcnn_class_ids)
        log("mrcnn_bbox", mrcnn_bbox)
        log("mrcnn_mask", mrcnn_mask)
    log("gt_class_ids", gt_class_ids)
    log("gt_boxes", gt_boxes)
    log("gt_masks", gt_masks)
    log("rpn_match", rpn_match, )
    log("rpn_bbox", rpn_bbox)
    # matterport wrote dataset.image_reference(image_meta[0][0]), a float
    # index that NumPy no longer accepts for a list; parse_image_meta is the
    # form that works.
    image_id = modellib.parse_image_meta(image_meta)["image_id"][0]
    print("image_id: ", image_id, dataset.image_reference(image_id))
    # Remove the last dim in mrcnn_class_ids. It's only added
    # to satisfy Keras restriction on target shape.
    mrcnn_class_ids = mrcnn_class_ids[:, :, 0]
    assert rois.shape == (4, config.TRAIN_ROIS_PER_IMAGE, 4)
    assert mrcnn_mask.shape == (4, config.TRAIN_ROIS_PER_IMAGE, 28, 28, config.NUM_CLASSES)

    b = 0
    sample_image = modellib.unmold_image(normalized_images[b], config)
    indices = np.where(rpn_match[b] == 1)[0]
    refined_anchors = utils.apply_box_deltas(anchors[indices],
                                             rpn_bbox[b, :len(indices)] * config.RPN_BBOX_STD_DEV)
    log("anchors", anchors)
    log("refined_anchors", refined_anchors)
    positive_anchor_ids = np.where(rpn_match[b] == 1)[0]
    print("Positive anchors: {}".format(len(positive_anchor_ids)))
    negative_anchor_ids = np.where(rpn_match[b] == -1)[0]
    print("Negative anchors: {}".format(len(negative_anchor_ids)))
    neutral_anchor_ids = np.where(rpn_match[b] == 0)[0]
    print("Neutral anchors: {}".format(len(neutral_anchor_ids)))
    # ROI breakdown by class
    for c, n in zip(dataset.class_names, np.bincount(mrcnn_class_ids[b].flatten())):
        if n:
            print("{:23}: {}".format(c[:20], n))
    assert "BG" in capsys.readouterr().out
    ax = get_ax()
    visualize.draw_boxes(sample_image, boxes=anchors[positive_anchor_ids],
                         refined_boxes=refined_anchors, ax=ax)

    # ROIs
    if random_rois:
        # Class aware bboxes
        bbox_specific = mrcnn_bbox[b, np.arange(mrcnn_bbox.shape[1]), mrcnn_class_ids[b], :]
        # Refined ROIs
        refined_rois = utils.apply_box_deltas(rois[b].astype(np.float32),
                                              bbox_specific[:, :4] * config.BBOX_STD_DEV)
        # Class aware masks
        mask_specific = mrcnn_mask[b, np.arange(mrcnn_mask.shape[1]), :, :, mrcnn_class_ids[b]]
        visualize.draw_rois(sample_image, rois[b], refined_rois, mask_specific,
                            mrcnn_class_ids[b], dataset.class_names)
        # Any repeated ROIs?
        rows = np.ascontiguousarray(rois[b]).view(
            np.dtype((np.void, rois.dtype.itemsize * rois.shape[-1])))
        _, idx = np.unique(rows, return_index=True)
        print("Unique ROIs: {} out of {}".format(len(idx), rois.shape[1]))
        # The positive RoIs refined by their targets are ground-truth boxes.
        positive = mrcnn_class_ids[b] > 0
        assert positive.any()
        n = int((gt_class_ids[b] > 0).sum())
        distance = np.abs(refined_rois[positive][:, None] - gt_boxes[b, :n][None]).max(axis=2)
        assert (distance.min(axis=1) < 1e-3).all()

    if random_rois:
        # Display ROIs and corresponding masks and bounding boxes
        ids = random.sample(range(rois.shape[1]), 8)
        images = []
        titles = []
        for i in ids:
            image = visualize.draw_box(sample_image.copy(), rois[b, i, :4].astype(np.int32),
                                       [255, 0, 0])
            image = visualize.draw_box(image, refined_rois[i].astype(np.int64), [0, 255, 0])
            images.append(image)
            titles.append("ROI {}".format(i))
            images.append(mask_specific[i] * 255)
            titles.append(dataset.class_names[mrcnn_class_ids[b, i]][:20])
        visualize.display_images(images, titles, cols=4, cmap="Blues", interpolation="none")

    # Check ratio of positive ROIs in a set of images.
    if random_rois:
        limit = 3
        temp_g = modellib.data_generator(
            dataset, config, shuffle=True, random_rois=10000,
            batch_size=1, detection_targets=True)
        total = 0
        for i in range(limit):
            _, [ids, _, _] = next(temp_g)
            positive_rois = np.sum(ids[0] > 0)
            total += positive_rois
            print("{:5} {:5.2f}".format(positive_rois, positive_rois / ids.shape[1]))
        print("Average percent: {:.2f}".format(total / (limit * ids.shape[1])))
        # int(TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO) = int(32 * 0.33) = 10 of 32
        assert total == limit * 10


############################################################
#  demo.ipynb and train_shapes.ipynb (inference part)
############################################################

def test_demo_and_train_shapes_inference_cells(model, dataset, capsys):
    inference_config = model.config
    image_id = random.choice(dataset.image_ids)
    original_image, image_meta, gt_class_id, gt_bbox, gt_mask = \
        modellib.load_image_gt(dataset, inference_config, image_id, use_mini_mask=False)
    log("original_image", original_image)
    log("gt_class_id", gt_class_id)
    log("gt_bbox", gt_bbox)
    log("gt_mask", gt_mask)
    visualize.display_instances(original_image, gt_bbox, gt_mask, gt_class_id,
                                dataset.class_names, figsize=(8, 8))

    results = model.detect([original_image], verbose=1)
    out = capsys.readouterr().out
    assert "Processing 1 images" in out and "molded_images" in out
    r = results[0]
    assert set(r) >= {"rois", "class_ids", "scores", "masks"}
    assert r["masks"].shape[:2] == original_image.shape[:2]
    ax = get_ax()
    visualize.display_instances(original_image, r['rois'], r['masks'], r['class_ids'],
                                dataset.class_names, r['scores'], ax=ax)
    assert drew_something(ax)

    # mAP over a few images, as train_shapes.ipynb computes it
    image_ids = np.random.choice(dataset.image_ids, 3)
    APs = []
    for image_id in image_ids:
        image, image_meta, gt_class_id, gt_bbox, gt_mask = \
            modellib.load_image_gt(dataset, inference_config, image_id, use_mini_mask=False)
        molded_images = np.expand_dims(modellib.mold_image(image, inference_config), 0)
        assert molded_images.shape == (1, 128, 128, 3)
        results = model.detect([image], verbose=0)
        r = results[0]
        AP, precisions, recalls, overlaps = \
            utils.compute_ap(gt_bbox, gt_class_id, gt_mask,
                             r["rois"], r["class_ids"], r["scores"], r['masks'])
        APs.append(AP)
    print("mAP: ", np.mean(APs))
    assert all(0 <= ap <= 1 for ap in APs)


############################################################
#  inspect_model.ipynb
############################################################

def test_inspect_model_detection_and_precision_cells(model, dataset):
    config = model.config
    image_id = random.choice(dataset.image_ids)
    image, image_meta, gt_class_id, gt_bbox, gt_mask = \
        modellib.load_image_gt(dataset, config, image_id, use_mini_mask=False)
    info = dataset.image_info[image_id]
    print("image ID: {}.{} ({}) {}".format(info["source"], info["id"], image_id,
                                           dataset.image_reference(image_id)))
    results = model.detect([image], verbose=1)
    ax = get_ax(1)
    r = results[0]
    visualize.display_instances(image, r['rois'], r['masks'], r['class_ids'],
                                dataset.class_names, r['scores'], ax=ax,
                                title="Predictions")

    gt_match, pred_match, overlaps = utils.compute_matches(
        gt_bbox, gt_class_id, gt_mask, r['rois'], r['class_ids'], r['scores'], r['masks'])
    ax = get_ax()
    visualize.display_differences(
        image, gt_bbox, gt_class_id, gt_mask, r['rois'], r['class_ids'], r['scores'],
        r['masks'], dataset.class_names, ax=ax, show_box=False, show_mask=False,
        iou_threshold=0.5, score_threshold=0.5)
    assert drew_something(ax)

    AP, precisions, recalls, overlaps = utils.compute_ap(
        gt_bbox, gt_class_id, gt_mask, r['rois'], r['class_ids'], r['scores'], r['masks'])
    visualize.plot_precision_recall(AP, precisions, recalls)
    visualize.plot_overlaps(gt_class_id, r['class_ids'], r['scores'], overlaps,
                            dataset.class_names)
    assert overlaps.shape == (len(r['class_ids']), len(gt_class_id))

    # RPN targets: model.anchors are the pixel anchors of the last detect()
    target_rpn_match, target_rpn_bbox = modellib.build_rpn_targets(
        image.shape, model.anchors, gt_class_id, gt_bbox, model.config)
    log("target_rpn_match", target_rpn_match)
    log("target_rpn_bbox", target_rpn_bbox)
    positive_anchor_ix = np.where(target_rpn_match[:] == 1)[0]
    positive_anchors = model.anchors[positive_anchor_ix]
    refined_anchors = utils.apply_box_deltas(
        positive_anchors, target_rpn_bbox[:positive_anchors.shape[0]] * model.config.RPN_BBOX_STD_DEV)
    assert len(positive_anchors) > 0
    # the refined positive anchors are the ground-truth boxes
    ious = utils.compute_overlaps(refined_anchors, gt_bbox.astype(np.float32))
    assert np.all(ious.max(axis=1) > 0.98)
    ax = get_ax()
    visualize.draw_boxes(image, boxes=positive_anchors, refined_boxes=refined_anchors, ax=ax)
    assert drew_something(ax)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_inspect_model_run_graph_cells(model, dataset):
    image = dataset.load_image(0)
    km = model.keras_model
    pillar = km.get_layer("ROI").output  # node to start searching from

    # TF 1 names of tensors inside the proposal layer do not exist in Keras 3 ...
    nms_node = model.ancestor(pillar, "ROI/rpn_non_max_suppression:0")
    assert nms_node is None
    with pytest.raises(ValueError, match="is None"):
        model.run_graph([image], [("post_nms_anchor_ix", nms_node)])

    # ... layer outputs do, and run_graph computes them
    rpn = model.run_graph([image], [
        ("rpn_class", km.get_layer("rpn_class").output),
        ("rpn_bbox", km.get_layer("rpn_bbox").output),
        ("proposals", km.get_layer("ROI").output),
    ])
    molded_images, image_metas, windows = model.mold_inputs([image])
    anchors = model.get_anchors(molded_images[0].shape)  # normalised, as the graph sees them
    assert rpn["rpn_class"].shape == (1, len(anchors), 2)
    assert rpn["proposals"].shape == (1, model.config.POST_NMS_ROIS_INFERENCE, 4)

    # Replacement of the ROI/pre_nms_anchors, refined_anchors(_clipped) and NMS
    # cells (docs/migrating-from-matterport.md): the same steps in NumPy.
    config = model.config
    scores = rpn["rpn_class"][0, :, 1]
    pre_nms = np.argsort(scores)[::-1][:min(config.PRE_NMS_LIMIT, len(scores))]
    deltas = rpn["rpn_bbox"][0, pre_nms] * config.RPN_BBOX_STD_DEV
    deltas[:, 2:] = np.minimum(deltas[:, 2:], np.log(1000 / 16))
    refined_anchors = utils.apply_box_deltas(anchors[pre_nms].astype(np.float32), deltas)
    refined_anchors_clipped = np.clip(refined_anchors, 0, 1)
    keep = utils.non_max_suppression(refined_anchors_clipped, scores[pre_nms],
                                     config.RPN_NMS_THRESHOLD)
    keep = keep[:config.POST_NMS_ROIS_INFERENCE]
    post_nms_anchor_ix = pre_nms[keep]
    log("post_nms_anchor_ix", post_nms_anchor_ix)
    # Every proposal of the layer is one of these refined, clipped anchors.
    # (An untrained RPN gives tied scores and degenerate boxes, so the NMS
    # order may differ; samples/inspect_model.ipynb compares a trained one
    # box by box.)
    proposals = rpn["proposals"][0]
    proposals = proposals[np.any(proposals != 0, axis=1)]
    distance = np.abs(proposals[:, None, :] - refined_anchors_clipped[None, :, :]).max(-1)
    assert np.all(distance.min(axis=1) < 1e-4)

    limit = 100
    sorted_anchor_ids = np.argsort(rpn['rpn_class'][:, :, 1].flatten())[::-1]
    ax = get_ax(1, 2)
    visualize.draw_boxes(image, boxes=model.anchors[sorted_anchor_ids[:limit]], ax=ax[0])
    visualize.draw_boxes(image, refined_boxes=utils.denorm_boxes(
        rpn["proposals"][0, :limit], image.shape[:2]), ax=ax[1])

    # Stage 2: heads and detections
    mrcnn = model.run_graph([image], [
        ("proposals", km.get_layer("ROI").output),
        ("probs", km.get_layer("mrcnn_class").output),
        ("deltas", km.get_layer("mrcnn_bbox").output),
        ("masks", km.get_layer("mrcnn_mask").output),
        ("detections", km.get_layer("mrcnn_detection").output),
    ])
    num_rois = config.POST_NMS_ROIS_INFERENCE
    assert mrcnn["probs"].shape == (1, num_rois, config.NUM_CLASSES)
    assert mrcnn["deltas"].shape == (1, num_rois, config.NUM_CLASSES, 4)
    assert mrcnn["detections"].shape == (1, config.DETECTION_MAX_INSTANCES, 6)
    det_class_ids = mrcnn['detections'][0, :, 4].astype(np.int32)
    det_count = np.where(det_class_ids == 0)[0]
    det_count = det_count[0] if len(det_count) else len(det_class_ids)
    det_class_ids = det_class_ids[:det_count]
    detections = mrcnn['detections'][0, :det_count]
    print("{} detections: {}".format(det_count, np.array(dataset.class_names)[det_class_ids]))
    captions = ["{} {:.3f}".format(dataset.class_names[int(c)], s) if c > 0 else ""
                for c, s in zip(detections[:, 4], detections[:, 5])]
    ax = get_ax()
    visualize.draw_boxes(image, refined_boxes=utils.denorm_boxes(detections[:, :4],
                                                                 image.shape[:2]),
                         visibilities=[2] * len(detections), captions=captions,
                         title="Detections", ax=ax)

    # Proposals classified by the head
    roi_class_ids = np.argmax(mrcnn["probs"][0], axis=1)
    roi_scores = mrcnn["probs"][0, np.arange(roi_class_ids.shape[0]), roi_class_ids]
    roi_bbox_specific = mrcnn["deltas"][0, np.arange(num_rois), roi_class_ids]
    proposals_px = utils.denorm_boxes(mrcnn["proposals"][0], image.shape[:2])
    refined_proposals = utils.apply_box_deltas(
        proposals_px, roi_bbox_specific * config.BBOX_STD_DEV).astype(np.int32)
    keep = np.where(roi_class_ids > 0)[0][:10]
    visualize.draw_rois(image, proposals_px[keep] if len(keep) else proposals_px[:1],
                        refined_proposals[keep] if len(keep) else refined_proposals[:1],
                        np.zeros(image.shape[:2] + (max(len(keep), 1),), bool),
                        roi_class_ids[keep] if len(keep) else np.array([1]),
                        dataset.class_names, limit=10)
    assert roi_scores.shape == (num_rois,)

    # Masks: [batch, detections, 28, 28, classes], as in matterport
    assert mrcnn["masks"].shape[:2] == (1, config.DETECTION_MAX_INSTANCES)
    assert mrcnn["masks"].shape[2:] == tuple(config.MASK_SHAPE) + (config.NUM_CLASSES,)
    det_mask_specific = np.array([mrcnn["masks"][0, i, :, :, c]
                                  for i, c in enumerate(det_class_ids)])
    det_boxes = utils.denorm_boxes(detections[:, :4], image.shape[:2])
    det_masks = np.array([utils.unmold_mask(m, det_boxes[i], image.shape)
                          for i, m in enumerate(det_mask_specific)])
    log("det_mask_specific", det_mask_specific)
    log("det_masks", det_masks)
    if det_count:
        visualize.display_images(det_mask_specific[:4] * 255, cmap="Blues",
                                 interpolation="none")

    # model.ancestor: a layer name finds that layer's output among the ancestors
    detection_output = km.get_layer("mrcnn_detection").output
    assert model.ancestor(detection_output, "ROI") is km.get_layer("ROI").output
    assert model.ancestor(detection_output, "no_such_layer") is None


def test_inspect_model_activation_cells(model, dataset):
    import tensorflow as tf

    image = dataset.load_image(1)
    km = model.keras_model
    # TF 1: tf.identity(layer output) -- a KerasTensor is no TensorFlow tensor
    with pytest.raises(ValueError, match="KerasTensor"):
        tf.identity(km.get_layer("input_image").output)
    activations = model.run_graph([image], [
        ("input_image", km.get_layer("input_image").output),  # no tf.identity needed
        ("res2c_out", km.get_layer("res2c_out").output),
        ("res3c_out", km.get_layer("res3c_out").output),
        ("res4w_out", km.get_layer("res4w_out").output),  # for resnet100
        ("rpn_bbox", km.get_layer("rpn_bbox").output),
        ("roi", km.get_layer("ROI").output),
    ])
    assert activations["input_image"].shape == (1, 128, 128, 3)
    assert activations["res2c_out"].shape == (1, 32, 32, 256)
    assert activations["res4w_out"].shape == (1, 8, 8, 1024)
    visualize.display_images(np.transpose(activations["res2c_out"][0, :, :, :4], [2, 0, 1]))
    # For get_tensor_by_name / K.function: a sub-model of the layer outputs
    # (docs/migrating-from-matterport.md)
    import keras
    sub = keras.Model(model.keras_model.inputs,
                      [model.keras_model.get_layer("res3c_out").output])
    molded_images, image_metas, windows = model.mold_inputs([image])
    anchors = model.get_anchors(molded_images[0].shape)[None]
    res3c = np.asarray(sub([molded_images, image_metas, anchors]))
    assert np.allclose(res3c, activations["res3c_out"], atol=1e-4)
    # Histograms of RPN bounding box deltas
    plt.figure(figsize=(12, 3))
    for i in range(4):
        plt.subplot(1, 4, i + 1)
        _ = plt.hist(activations["rpn_bbox"][0, :, i], 50)


############################################################
#  inspect_weights.ipynb
############################################################

def test_inspect_weights_cells(model):
    table = visualize.display_weight_stats(model)
    assert table[0] == ["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"] and len(table) > 100
    LAYER_TYPES = ['Conv2D', 'Dense', 'Conv2DTranspose']
    layers = model.get_trainable_layers()
    layers = list(filter(lambda l: l.__class__.__name__ in LAYER_TYPES, layers))
    print("{} layers".format(len(layers)))
    names = {l.name for l in layers}
    assert {"conv1", "fpn_p2", "mrcnn_mask"} <= names
    fig, ax = plt.subplots(4, 4, figsize=(10, 10),
                           gridspec_kw={"hspace": 0.3, "wspace": 0.3})
    for l in range(4):
        layer = layers[l]
        for w, weight in enumerate(layer.get_weights()[:2]):
            ax[l, w * 2].set_title(layer.name)
            _ = ax[l, w * 2 + 1].hist(weight[-1].flatten(), 50)
    assert math.isfinite(float(np.asarray(layers[0].get_weights()[0]).std()))
