"""mrcnn.fileio: atomic writes of files and directories (downloads are
tested in test_download.py)."""

import contextlib
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


# ----------------------------------------------------------------------
# Leftovers of killed writers and full disks (issue #15, item 13)
# ----------------------------------------------------------------------

def _dead_pid():
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _tag(pid):
    return "{}.{}.{}".format(fileio._HOST, pid, "0123abcd")


def _age(path, seconds):
    old = os.stat(path).st_mtime - seconds
    os.utime(path, (old, old))


def test_stale_leftovers_are_removed_at_the_next_write(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    names = {
        "dead_weights": ".weights-{}.h5.tmp".format(_tag(dead)),
        "live_weights": ".weights-{}.h5.tmp".format(_tag(live)),
        "old_legacy": ".weights-{}.h5.tmp".format("a" * 32),  # earlier versions: no pid
        "young_legacy": ".config.json-{}.tmp".format("b" * 32),
        "dead_download": ".download-{}.part".format(_tag(dead)),
        "dead_png": ".x.png-{}.tmp.png".format(_tag(dead)),
        "user_file": ".notes-mine.tmp",  # not a name of ours: never touched
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
        _age(str(tmp_path / name), fileio.QUIET_AFTER + 10)
    (tmp_path / ".weights-{}.h5.tmp".format(_tag(dead + 1000000))).write_bytes(b"just now")
    _age(str(tmp_path / names["old_legacy"]), fileio.STALE_AFTER + 60)
    _age(str(tmp_path / names["user_file"]), fileio.STALE_AFTER * 10)
    fileio.write_json_atomic(str(tmp_path / "metrics.json"), {"ok": 1})
    left = set(os.listdir(str(tmp_path)))
    # A dead writer's file changed seconds ago (another PID namespace?) stays too.
    assert left == {"metrics.json", names["live_weights"], names["young_legacy"],
                    names["user_file"], ".weights-{}.h5.tmp".format(_tag(dead + 1000000))}


def test_stale_export_leftovers_are_removed_or_restored(tmp_path):
    export = tmp_path / "export"
    dead = _dead_pid()
    for name in ("1", ".tmp-1-{}".format(_tag(dead)), "1.old-{}".format(_tag(dead)),
                 "2.old-{}".format(_tag(dead)), ".tmp-3-{}".format(_tag(os.getppid()))):
        os.makedirs(str(export / name))
        (export / name / "saved_model.pb").write_text(name)
        _age(str(export / name / "saved_model.pb"), fileio.QUIET_AFTER + 10)
        _age(str(export / name), fileio.QUIET_AFTER + 10)
    with fileio.atomic_directory(str(export / "4")) as tmp:
        os.makedirs(tmp)
    # 1 exists: its old copy goes; 2 was moved aside by a writer that died
    # before renaming the new one in: it comes back. A live writer's stays.
    assert sorted(os.listdir(str(export))) == [".tmp-3-{}".format(_tag(os.getppid())),
                                               "1", "2", "4"]
    assert (export / "2" / "saved_model.pb").read_text().startswith("2.old-")
    assert (export / "1" / "saved_model.pb").read_text() == "1"


def test_full_disk_gives_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno
    import builtins
    path = tmp_path / "config.json"
    path.write_text("old")
    real_open = builtins.open

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:3])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def full_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return FullFile(f) if "x" in mode else f
    monkeypatch.setattr(builtins, "open", full_open)
    with pytest.raises(fileio.DiskFullError) as info:
        fileio.write_text_atomic(str(path), "new config")
    monkeypatch.undo()
    message = str(info.value)
    assert str(path) in message and "no space left" in message and "intact" in message
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert path.read_text() == "old"
    assert os.listdir(str(tmp_path)) == ["config.json"]


def test_tensorflow_out_of_space_errors_count_as_full_disk(tmp_path):
    import tensorflow as tf
    final = tmp_path / "export" / "1"
    with pytest.raises(fileio.DiskFullError, match="no space left"):
        with fileio.atomic_directory(str(final)) as tmp:
            os.makedirs(tmp)
            raise tf.errors.ResourceExhaustedError(
                None, None, "{}/variables; No space left on device".format(tmp))
    assert os.listdir(str(tmp_path / "export")) == []
    # Out of (GPU) memory is not a full disk: passed on as it is.
    with pytest.raises(tf.errors.ResourceExhaustedError):
        with fileio.atomic_directory(str(final)) as tmp:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")


@contextlib.contextmanager
def _fill_file(path):
    with fileio.atomic_path(path) as tmp:
        with open(tmp, "x") as f:
            f.write("partial")
        yield tmp


@contextlib.contextmanager
def _fill_directory(path):
    with fileio.atomic_directory(path, replace=True) as tmp:
        os.makedirs(tmp)
        with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
            f.write("partial")
        yield tmp


@pytest.mark.parametrize("fill", [_fill_file, _fill_directory], ids=["file", "directory"])
def test_atomic_writers_share_the_cleanup_and_the_full_disk_rule(tmp_path, fill):
    """atomic_path and atomic_directory end alike: whatever stops the writer
    (a full disk, a DiskFullError already named, any other error, even a
    KeyboardInterrupt), the temporary goes and the old target stays; only a
    full disk becomes a DiskFullError, naming the target, with the cause."""
    import errno
    target = str(tmp_path / "target")
    if fill is _fill_file:
        (tmp_path / "target").write_text("old")
    else:
        os.makedirs(target)
        (tmp_path / "target" / "saved_model.pb").write_text("old")

    def old_is_intact():
        left = sorted(os.listdir(str(tmp_path)))
        inside = (tmp_path / "target").read_text() if fill is _fill_file else \
            (tmp_path / "target" / "saved_model.pb").read_text()
        return left == ["target"] and inside == "old"

    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(fileio.DiskFullError) as info:
        with fill(target):
            raise full
    assert target in str(info.value) and "intact" in str(info.value)
    assert info.value.__cause__ is full and old_is_intact()

    named = fileio.DiskFullError("already named", filename="elsewhere")
    with pytest.raises(fileio.DiskFullError) as info:
        with fill(target):
            raise named
    assert info.value is named and old_is_intact()

    for error in (ValueError("bad value"), KeyboardInterrupt()):
        with pytest.raises(type(error)) as info:
            with fill(target):
                raise error
        assert info.value is error and old_is_intact()
