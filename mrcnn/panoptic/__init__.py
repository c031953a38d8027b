"""Panoptic segmentation on the NumPy side: fusing instances with a semantic
map, the panoptic quality (PQ) metric and writing predictions in the COCO
panoptic format.

    from mrcnn import panoptic

    r = model.detect([image])[0]
    pan, segments = panoptic.fuse(r["masks"], r["class_ids"], r["scores"],
                                  semantic, stuff_class_ids=dataset.stuff_class_ids)
    results = panoptic.pq_compute("gt.json", "pred.json")
    results["All"]["pq"], results["Things"]["rq"], results["per_class"][17]["sq"]

Every name is importable from `mrcnn.panoptic`; each lives in one module:
`format` (the COCO panoptic format: segment ids <-> RGB, reading PNGs,
checking the JSON), `fusion` (`fuse`), `pq` (`pq_compute` and its parts) and
`writer` (`PanopticWriter`).

The COCO panoptic format (one JSON file and one RGB PNG per image, segment
id = ``R + 256 * G + 256**2 * B``, 0 void) is described in
`mrcnn.panoptic.format`.

Fusion (`fuse`) follows the heuristic of the panoptic segmentation paper as
cocodataset's panopticapi implements it
(``combine_semantic_and_instance_predictions.py``); `pq_compute` follows
panopticapi's ``evaluation.py`` (see the functions for the exact rules). The
results agree with panopticapi's; the computation is vectorised (one
``np.unique`` over ground truth / prediction id pairs per image) and runs in
one process.
"""

from mrcnn.panoptic.format import (OFFSET, VOID, PanopticError, _list_field,  # noqa: F401
                                   _read_json, check_segments, id2rgb, parse_annotation,
                                   parse_categories, read_panoptic_png, rgb2id, segment_bbox)
from mrcnn.panoptic.fusion import fuse  # noqa: F401
from mrcnn.panoptic.pq import (format_pq_table, pq_average, pq_compute,  # noqa: F401
                               pq_image_stats)
from mrcnn.panoptic.writer import (PanopticWriter, _atomic_write, png_name,  # noqa: F401
                                   write_json, write_panoptic_png)

__all__ = ["VOID", "OFFSET", "PanopticError", "rgb2id", "id2rgb", "read_panoptic_png",
           "segment_bbox", "parse_categories", "parse_annotation", "check_segments", "fuse",
           "pq_compute", "pq_image_stats", "pq_average", "format_pq_table", "PanopticWriter",
           "write_panoptic_png", "write_json", "png_name"]
