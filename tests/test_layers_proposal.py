"""ProposalLayer (mrcnn/layers/proposal.py) against matterport's proposal
rule in NumPy and hand-computed cases."""

import numpy as np
import pytest
import tensorflow as tf

from layer_cases import make_config, random_boxes, softmax
from mrcnn import utils
from mrcnn.layers import ProposalLayer


def np_proposals(probs, deltas, anchors, proposal_count, nms_threshold, pre_nms_limit, std):
    """Matterport's proposal rule for one image, from mrcnn.utils helpers."""
    scores = probs[:, 1]
    order = np.argsort(-scores, kind="stable")[:min(pre_nms_limit, len(scores))]
    boxes = utils.apply_box_deltas(anchors[order], deltas[order] * std)
    boxes = np.clip(boxes, 0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):    # clipped zero-area boxes
        keep = utils.non_max_suppression(boxes, scores[order], nms_threshold)[:proposal_count]
    out = np.zeros((proposal_count, 4), np.float32)
    out[:len(keep)] = boxes[keep]
    return out, len(keep)


def proposal_inputs(seed, batch=2, num_anchors=300):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.1, 0.9, (12, 2))
    anchors = np.stack([random_boxes(rng, num_anchors, centres) for _ in range(batch)])
    probs = softmax(rng.normal(0, 2, (batch, num_anchors, 2))).astype(np.float32)
    deltas = rng.normal(0, 1, (batch, num_anchors, 4)).astype(np.float32)
    return probs, deltas, anchors


@pytest.mark.parametrize("proposal_count, nms_threshold, pre_nms_limit, expect_padding", [
    (20, 0.5, 100, False),      # more survivors than proposal_count: truncated
    (150, 0.5, 100, True),      # at most 100 survivors: zero padding
    (40, 0.7, 1000, None),      # pre_nms_limit larger than the anchor count
])
def test_proposal_layer_matches_numpy(proposal_count, nms_threshold, pre_nms_limit,
                                      expect_padding):
    probs, deltas, anchors = proposal_inputs(seed=proposal_count)
    config = make_config(PRE_NMS_LIMIT=pre_nms_limit)
    layer = ProposalLayer(proposal_count, nms_threshold, config=config)
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()
    assert got.shape == (2, proposal_count, 4)
    for b in range(2):
        want, kept = np_proposals(probs[b], deltas[b], anchors[b], proposal_count,
                                  nms_threshold, pre_nms_limit, config.RPN_BBOX_STD_DEV)
        np.testing.assert_allclose(got[b], want, atol=1e-5)
        if expect_padding is True:
            assert kept < proposal_count
            assert np.all(got[b, kept:] == 0) and np.all(np.abs(got[b, :kept]).sum(1) > 0)
        elif expect_padding is False:
            assert kept == proposal_count
    assert got.min() >= 0.0 and got.max() <= 1.0
    # The two images are handled independently.
    assert not np.allclose(got[0], got[1])


def test_proposal_layer_pre_nms_limit_restricts_candidates():
    probs, deltas, anchors = proposal_inputs(seed=7, batch=1, num_anchors=200)
    std = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
    layer = ProposalLayer(50, 0.9, pre_nms_limit=10, rpn_bbox_std_dev=std)
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()[0]
    want, kept = np_proposals(probs[0], deltas[0], anchors[0], 50, 0.9, 10, std)
    assert kept <= 10
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.all(got[10:] == 0)
    # Every proposal comes from one of the 10 best-scored anchors.
    top10 = np.argsort(-probs[0, :, 1])[:10]
    cands = np.clip(utils.apply_box_deltas(anchors[0, top10], deltas[0, top10] * std), 0, 1)
    for row in got[:kept]:
        assert np.min(np.abs(cands - row).max(1)) < 1e-5


def test_proposal_layer_hand_case():
    # Three anchors: the best two overlap heavily, so NMS drops the second.
    anchors = np.array([[[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]]],
                       np.float32)
    probs = np.array([[[0.1, 0.9], [0.2, 0.8], [0.7, 0.3]]], np.float32)
    deltas = np.zeros((1, 3, 4), np.float32)
    deltas[0, 2] = [1.0, 0.0, 0.0, 0.0]     # * 0.1 -> moved down by 0.1 * 0.3
    layer = ProposalLayer(4, 0.7, pre_nms_limit=10, rpn_bbox_std_dev=[0.1, 0.1, 0.2, 0.2])
    got = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()[0]
    np.testing.assert_allclose(got, [[0.1, 0.1, 0.5, 0.5], [0.63, 0.6, 0.93, 0.9],
                                     [0, 0, 0, 0], [0, 0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("threshold, kept", [(0.5, 2), (0.49, 1)])
def test_proposal_layer_nms_suppresses_strictly_above_threshold(threshold, kept):
    # IoU of the two anchors is exactly 0.5 (binary-exact coordinates).
    anchors = np.array([[[0.25, 0.25, 0.75, 0.75], [0.25, 0.25, 0.75, 0.5]]], np.float32)
    probs = np.array([[[0.1, 0.9], [0.2, 0.8]]], np.float32)
    layer = ProposalLayer(3, threshold, pre_nms_limit=10, rpn_bbox_std_dev=[1, 1, 1, 1])
    got = layer([tf.constant(probs), tf.zeros([1, 2, 4]), tf.constant(anchors)]).numpy()[0]
    np.testing.assert_array_equal(got[:kept], anchors[0, :kept])
    assert np.all(got[kept:] == 0)


def test_proposal_layer_graph_mode_and_config_round_trip():
    probs, deltas, anchors = proposal_inputs(seed=3)
    layer = ProposalLayer(30, 0.6, config=make_config(PRE_NMS_LIMIT=80))
    spec = [tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None, 4]),
            tf.TensorSpec([None, None, 4])]
    fn = tf.function(lambda p, d, a: layer([p, d, a]), input_signature=spec)
    eager = layer([tf.constant(probs), tf.constant(deltas), tf.constant(anchors)]).numpy()
    np.testing.assert_allclose(fn(probs, deltas, anchors).numpy(), eager, atol=1e-6)
    clone = ProposalLayer.from_config(layer.get_config())
    np.testing.assert_allclose(clone([tf.constant(probs), tf.constant(deltas),
                                      tf.constant(anchors)]).numpy(), eager, atol=1e-6)
