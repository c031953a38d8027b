"""The FPN mask head (build_fpn_mask_graph) run on the valid RoIs only."""

import numpy as np


def test_mask_head_on_valid_rois_only():
    """build_fpn_mask_graph(valid=...): the valid RoIs' masks equal those of
    the head run on every RoI (same weights), the other rows are 0, and a
    batch without any valid RoI gives zeros (no empty-batch convolution)."""
    import keras

    from mrcnn.heads import build_fpn_mask_graph
    rng = np.random.default_rng(5)
    meta_size = 1 + 3 + 3 + 4 + 1 + 4
    rois = keras.Input((6, 4))
    meta = keras.Input((meta_size,))
    valid = keras.Input((6,), dtype="bool")
    maps = [keras.Input((s, s, 8)) for s in (16, 8, 4, 2)]
    every = keras.Model([rois, meta] + maps,
                        build_fpn_mask_graph(rois, maps, meta, 4, 3, train_bn=False, channels=8))
    some = keras.Model([rois, meta, valid] + maps,
                       build_fpn_mask_graph(rois, maps, meta, 4, 3, train_bn=False, channels=8,
                                            valid=valid))
    some.set_weights(every.get_weights())
    y1, x1 = rng.uniform(0, 0.5, (2, 2, 6))
    boxes = np.stack([y1, x1, y1 + rng.uniform(0.1, 0.5, (2, 6)),
                      x1 + rng.uniform(0.1, 0.5, (2, 6))], -1).astype(np.float32)
    metas = np.zeros((2, meta_size), np.float32)
    metas[:, 4:7] = (64, 64, 3)
    feats = [rng.normal(size=(2, s, s, 8)).astype(np.float32) for s in (16, 8, 4, 2)]
    full = every([boxes, metas] + feats).numpy()
    assert full.shape == (2, 6, 8, 8, 3)
    for mask in (np.array([[1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]], bool),
                 np.zeros((2, 6), bool), np.ones((2, 6), bool)):
        out = some([boxes, metas, mask] + feats).numpy()
        np.testing.assert_allclose(out[mask], full[mask], rtol=1e-5, atol=1e-6)
        assert not out[~mask].any()
