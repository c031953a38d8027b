"""Features: the backbone (ResNet, or config.BACKBONE as a callable) and the
feature pyramid (mrcnn.backbone)."""

from mrcnn.backbone import fpn_graph, resnet_graph


def build_features(input_image, config):
    """input_image [batch, h, w, c] -> (rpn_feature_maps [P2..P6],
    mrcnn_feature_maps [P2..P5]), each [batch, h / stride, w / stride,
    TOP_DOWN_PYRAMID_SIZE] with strides 4, 8, 16, 32 (64 for P6)."""
    if callable(config.BACKBONE):
        _, C2, C3, C4, C5 = config.BACKBONE(input_image, stage5=True, train_bn=config.TRAIN_BN)
    else:
        _, C2, C3, C4, C5 = resnet_graph(input_image, config.BACKBONE, stage5=True,
                                         train_bn=config.TRAIN_BN)
    P2, P3, P4, P5, P6 = fpn_graph(C2, C3, C4, C5, config.TOP_DOWN_PYRAMID_SIZE)
    return [P2, P3, P4, P5, P6], [P2, P3, P4, P5]
