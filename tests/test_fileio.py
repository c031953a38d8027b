"""mrcnn.fileio: atomic writes of files and directories (downloads are
tested in test_download.py)."""

import json
import os
import subprocess
import sys

import pytest

from mrcnn import fileio, utils


def test_json_and_text_are_written_whole_and_leave_no_temporary(tmp_path):
    path = str(tmp_path / "sub" / "metrics.json")
    assert fileio.write_json_atomic(path, {"a": [1, 2]}) == path
    assert json.loads(open(path).read()) == {"a": [1, 2]}
    fileio.write_text_atomic(path, "replaced ü")
    assert open(path, encoding="utf-8").read() == "replaced ü"
    fileio.write_bytes_atomic(path, b"\x00\x01")
    assert open(path, "rb").read() == b"\x00\x01"
    assert os.listdir(str(tmp_path / "sub")) == ["metrics.json"]


def test_written_files_have_the_usual_permissions(tmp_path):
    path = str(tmp_path / "a.json")
    fileio.write_json_atomic(path, [])
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_a_failing_writer_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with fileio.atomic_path(str(path), prefix=".weights-", suffix=".h5.tmp") as tmp:
            assert os.path.dirname(tmp) == str(tmp_path)
            assert os.path.basename(tmp).startswith(".weights-") and tmp.endswith(".h5.tmp")
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old"
    assert os.listdir(str(tmp_path)) == ["weights.h5"]


def test_json_that_cannot_be_encoded_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        fileio.write_json_atomic(str(tmp_path / "x.json"), {"a": object()})
    assert os.listdir(str(tmp_path)) == []


def test_atomic_directory_replaces_only_when_complete(tmp_path):
    final = tmp_path / "export" / "1"
    with fileio.atomic_directory(str(final)) as tmp:
        os.makedirs(tmp)
        (open(os.path.join(tmp, "saved_model.pb"), "w")).write("v1")
    assert (final / "saved_model.pb").read_text() == "v1"
    with pytest.raises(FileExistsError):
        with fileio.atomic_directory(str(final)):
            pass
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_directory(str(final), replace=True) as tmp:
            os.makedirs(tmp)
            open(os.path.join(tmp, "saved_model.pb"), "w").write("half")
            raise KeyboardInterrupt
    assert (final / "saved_model.pb").read_text() == "v1"
    assert os.listdir(str(tmp_path / "export")) == ["1"]
    with fileio.atomic_directory(str(final), replace=True) as tmp:
        os.makedirs(tmp)
        open(os.path.join(tmp, "saved_model.pb"), "w").write("v2")
    assert (final / "saved_model.pb").read_text() == "v2"
    assert os.listdir(str(tmp_path / "export")) == ["1"]


def test_utils_keeps_the_old_names():
    assert utils.write_json_atomic is fileio.write_json_atomic
    assert utils.write_text_atomic is fileio.write_text_atomic
    assert utils.download_file is fileio.download_file


def test_importing_utils_loads_no_dataset_code():
    """mrcnn.utils sits below mrcnn.data: importing it must not run
    mrcnn/data/__init__.py (whose input pipeline imports utils back);
    utils.Dataset is still matterport's Dataset, on first use."""
    code = ("import sys; import mrcnn.utils as u; "
            "assert not [m for m in sys.modules if m.startswith('mrcnn.data')], sorted(sys.modules); "
            "from mrcnn.utils import Dataset; from mrcnn.data.dataset import Dataset as D; "
            "assert Dataset is D and u.Dataset is D and 'Dataset' in dir(u)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
