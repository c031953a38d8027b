"""mrcnn.panoptic (the package): every name it had as one module is still
importable from it, and is the object its submodule defines. The behaviour
is tested per module: test_panoptic_format.py, test_panoptic_fusion.py,
test_panoptic_pq.py, test_panoptic_writer.py."""
import importlib

from mrcnn import panoptic

HOME = {
    "format": ["VOID", "OFFSET", "PanopticError", "rgb2id", "id2rgb", "read_panoptic_png",
               "segment_bbox", "parse_categories", "parse_annotation", "check_segments",
               # used by mrcnn.data.panoptic
               "_list_field", "_read_json"],
    "fusion": ["fuse"],
    "pq": ["pq_compute", "pq_image_stats", "pq_average", "format_pq_table"],
    "writer": ["PanopticWriter", "write_panoptic_png", "write_json", "png_name",
               "_atomic_write"],  # used by mrcnn.data.panoptic
}


def test_every_name_is_reexported_from_its_module():
    for module_name, names in HOME.items():
        module = importlib.import_module("mrcnn.panoptic." + module_name)
        for name in names:
            assert getattr(panoptic, name) is getattr(module, name), (module_name, name)
    public = sorted(n for names in HOME.values() for n in names if not n.startswith("_"))
    assert sorted(panoptic.__all__) == public
    namespace = {}
    exec("from mrcnn.panoptic import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == public
