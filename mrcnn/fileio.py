"""Atomic file writes and downloads.

Every file this package writes (JSON, config, HDF5 weights, overlay PNGs,
SavedModel directories, downloads) goes to a temporary name in the target's
directory, is flushed to disk (fsync) and then renamed over the target, so
a crash, a kill or a full disk never leaves a half-written target: the
previous file, if any, stays intact.

    from mrcnn import fileio
    fileio.write_json_atomic("metrics.json", metrics)
    with fileio.atomic_path("weights.h5", prefix=".weights-", suffix=".h5.tmp") as tmp:
        write_somehow(tmp)          # renamed to weights.h5 on success
    fileio.download_file(url, "mask_rcnn_coco.h5", sha256=...)

Temporary names carry a tag ``<host>.<pid>.<random>`` (host: 6 hex digits
of a hash of the host name; pid: the writing process). A process killed
mid-write leaves its temporary behind; the next write into the same
directory removes such leftovers when they are stale (`is_stale`):

* the tag names this host and a process that no longer exists, and nothing
  in it was modified for QUIET_AFTER seconds (two minutes: a margin for a
  writer in another PID namespace with the same host name), or
* nothing in it was modified for STALE_AFTER seconds (one hour): the rule
  for other hosts (a shared file system) and for leftovers of older
  versions of this package, whose names carry no pid.

A leftover of a live writer (its pid exists, or it changed within the
hour) is never touched. A stale ``N.old-*`` directory (the previous
SavedModel version, moved aside while the new one is renamed into place)
is moved back to ``N`` when ``N`` is missing (the writer died between the
two renames), else removed.

A full disk (errno 28 / ENOSPC, or TensorFlow's "No space left on device")
raises `DiskFullError`, an OSError naming the file and its directory.
"""

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
import uuid

# Seconds without modification after which a leftover whose writer cannot
# be checked (another host, or a name without pid) counts as abandoned.
STALE_AFTER = 3600
# Seconds without modification before a leftover of a dead pid of this host
# counts as abandoned.
QUIET_AFTER = 120

_HOST = hashlib.sha256(socket.gethostname().encode("utf8")).hexdigest()[:6]

# Tags of temporary names: this version's, and the random hex of earlier ones.
_TAG = re.compile(r"^(?P<host>[0-9a-f]{6})\.(?P<pid>\d+)\.[0-9a-f]{8}$")
_LEGACY_TAG = re.compile(r"^(?:[0-9a-f]{8}|[0-9a-f]{32})$")

# Leftover names (in the directory of the target): files, then directories.
_FILE_LEFTOVERS = [
    re.compile(r"^\.weights-(?P<tag>[^-]+)\.h5\.tmp$"),
    re.compile(r"^\.download-(?P<tag>[^-]+)\.part$"),
    re.compile(r"^\..+-(?P<tag>[^-]+)\.tmp(?:\.[A-Za-z0-9]+)?$"),
]
_TMP_DIR = re.compile(r"^\.tmp-(?P<base>.+)-(?P<tag>[^-]+)$")
_OLD_DIR = re.compile(r"^(?P<base>.+)\.old-(?P<tag>[^-]+)$")

# Directories cleaned recently by this process (path -> time): a loop of
# writes into one folder scans it once a minute, not once per file.
_cleaned = {}
_CLEAN_INTERVAL = 60


class DiskFullError(OSError):
    """No space left on the device while writing `filename`."""

    def __init__(self, message, filename=None):
        super().__init__(errno.ENOSPC, message)
        self.filename = filename
        self.message = message

    def __str__(self):
        return self.message


def new_tag():
    """A fresh ``<host>.<pid>.<random>`` tag for a temporary name."""
    return "{}.{}.{}".format(_HOST, os.getpid(), uuid.uuid4().hex[:8])


def is_disk_full(error):
    """True when `error` says the device is full (OSError errno 28, or a
    TensorFlow / h5py error whose message says so)."""
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(error).lower()
    return "no space left on device" in text or "errno = 28" in text


def disk_full_error(path, error, kept=True):
    """A DiskFullError for a failed write of `path` (`error` the cause)."""
    directory = os.path.dirname(os.path.abspath(path))
    usage = ""
    try:
        free = shutil.disk_usage(directory).free
        usage = " ({:.1f} MB free)".format(free / 1e6)
    except OSError:
        pass
    tail = ("the earlier {} is intact".format(os.path.basename(path)) if kept
            else "nothing was written")
    if kept and not os.path.exists(path):
        tail = "nothing was written"
    return DiskFullError("no space left on the device of {}{} while writing {}; {}. Free "
                         "some space (or write elsewhere) and run again.".format(
                             directory, usage, path, tail), filename=path)


############################################################
#  Leftovers of killed writers
############################################################

def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: assume alive
    return True


def _newest_mtime(path):
    """The newest modification time of `path` and, for a directory, of
    everything in it."""
    newest = os.lstat(path).st_mtime
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:
                    pass
    return newest


def is_stale(path, tag, now=None):
    """Whether the leftover `path` with temporary-name tag `tag` is
    abandoned (see the module docstring); False for names that are not
    this package's."""
    m = _TAG.match(tag)
    if m is None and not _LEGACY_TAG.match(tag):
        return False
    try:
        age = (time.time() if now is None else now) - _newest_mtime(path)
    except OSError:
        return False
    if m is not None and m.group("host") == _HOST:
        return age > QUIET_AFTER and not _pid_alive(int(m.group("pid")))
    return age > STALE_AFTER


def clean_leftovers(directory, force=False):
    """Remove the stale temporaries of killed writers in `directory` (see
    the module docstring). Returns the names removed or restored. Errors
    while cleaning are ignored: cleaning never stops a write."""
    directory = os.path.abspath(directory)
    now = time.time()
    if not force and now - _cleaned.get(directory, -_CLEAN_INTERVAL) < _CLEAN_INTERVAL:
        return []
    _cleaned[directory] = now
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    done = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                m = _TMP_DIR.match(name)
                if m and is_stale(path, m.group("tag"), now):
                    shutil.rmtree(path)
                    done.append(name)
                    continue
                m = _OLD_DIR.match(name)
                if m and is_stale(path, m.group("tag"), now):
                    final = os.path.join(directory, m.group("base"))
                    if os.path.lexists(final):
                        shutil.rmtree(path)
                    else:  # its writer died between the two renames
                        os.rename(path, final)
                    done.append(name)
                continue
            for pattern in _FILE_LEFTOVERS:
                m = pattern.match(name)
                if m:
                    if is_stale(path, m.group("tag"), now):
                        os.remove(path)
                        done.append(name)
                    break
        except OSError:
            continue
    return done


############################################################
#  Atomic writes
############################################################

def _fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory):
    if os.name == "nt":  # directories cannot be opened for fsync there
        return
    try:
        _fsync_path(directory)
    except OSError:
        pass  # some file systems refuse fsync on directories


def _make_parent(path):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(path, e) from None
        raise
    return directory


def _remove_file(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _temporary(tmp, target, remove):
    """The end of every atomic write: around the filling of `tmp` and its
    rename to `target`, an error that says the disk is full becomes a
    DiskFullError naming `target` (other errors pass unchanged), and a
    `tmp` still there afterwards, whatever happened, is removed with
    `remove(tmp)`."""
    try:
        yield
    except Exception as e:
        if is_disk_full(e) and not isinstance(e, DiskFullError):
            raise disk_full_error(target, e) from e
        raise
    finally:
        if os.path.lexists(tmp):
            remove(tmp)


@contextlib.contextmanager
def atomic_path(path, prefix=None, suffix=".tmp"):
    """Context manager giving a temporary path beside `path` to write to;
    on a normal exit the file is fsynced and renamed to `path`, on an
    exception it is removed and `path` is left as it was.

    prefix/suffix: the temporary name is ``prefix + tag + suffix``
        (default ``.<name>-<tag>.tmp``). Keep a suffix a writer needs
        (e.g. ".tmp.png" for matplotlib, which picks the format from it).
    A full disk raises DiskFullError (an OSError) naming `path`.
    """
    path = os.fspath(path)
    directory = _make_parent(path)
    clean_leftovers(directory)
    if prefix is None:
        prefix = ".{}-".format(os.path.basename(path))
    tmp = os.path.join(directory, prefix + new_tag() + suffix)
    with _temporary(tmp, path, _remove_file):
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_dir(directory)


def write_bytes_atomic(path, data):
    """Write `data` (bytes) to `path` atomically. Returns `path`."""
    with atomic_path(path) as tmp:
        # A fresh name opened exclusively, with the usual 0666 & ~umask mode
        # (mkstemp's 0600 would survive the rename).
        with open(tmp, "xb") as f:
            f.write(data)
    return path


def write_text_atomic(path, text):
    """Write `text` (UTF-8) to `path` through a temporary file renamed into
    place, so a crash never leaves a half-written `path` (an old one stays
    intact). Returns `path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
    return path


def write_json_atomic(path, value, indent=1):
    """`json.dump` of `value` to `path`, atomically (see write_text_atomic)."""
    return write_text_atomic(path, json.dumps(value, indent=indent))


def _fsync_tree(root):
    for directory, _, files in os.walk(root):
        for name in files:
            _fsync_path(os.path.join(directory, name))
        _fsync_dir(directory)


@contextlib.contextmanager
def atomic_directory(final, replace=False):
    """Context manager giving a temporary directory path (not yet created)
    beside `final` to fill; on a normal exit its files are fsynced and it is
    renamed to `final`. An existing `final` is kept unless `replace`; with
    `replace` it is moved aside to ``final.old-<tag>`` just before the
    rename and removed after, so it stays intact until the new one is
    complete. On an exception the temporary directory is removed.
    Temporary name: ``.tmp-<name>-<tag>`` (TF Serving ignores it: not a
    number). A full disk raises DiskFullError naming `final`."""
    final = os.path.abspath(os.fspath(final))
    parent = _make_parent(final)
    clean_leftovers(parent)
    if os.path.lexists(final) and not replace:
        raise FileExistsError("{} already exists".format(final))
    tag = new_tag()
    tmp = os.path.join(parent, ".tmp-{}-{}".format(os.path.basename(final), tag))
    with _temporary(tmp, final, _remove_tree):
        yield tmp
        if not os.path.isdir(tmp):
            raise FileNotFoundError("{} was not created".format(tmp))
        _fsync_tree(tmp)
        if os.path.lexists(final):
            old = "{}.old-{}".format(final, tag)
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        _fsync_dir(parent)


############################################################
#  Downloads
############################################################

def file_sha256(path, chunk=1 << 20):
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(url, path, verbose=1, timeout=60, sha256=None, validate=None):
    """Download `url` to `path` through a temporary file renamed on success,
    so an interrupted download never leaves a truncated `path` behind.

    verbose: 1 shows a progress bar (tqdm) on stderr.
    sha256: expected hex digest; a mismatch raises ValueError and keeps any
        existing `path`. A body shorter than the server's Content-Length is
        refused too.
    validate: optional callable(temporary_path) raising ValueError when the
        downloaded content is unusable; then `path` is not touched.
    Returns `path`.
    """
    path = os.fspath(path)
    if sha256 is not None:
        sha256 = str(sha256).strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("sha256 {!r}: expected 64 hexadecimal digits".format(sha256))
    digest = hashlib.sha256()
    with atomic_path(path, prefix=".download-", suffix=".part") as tmp:
        with open(tmp, "xb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    total = resp.headers.get("Content-Length")
                    total = int(total) if total and total.isdigit() else None
                    received = 0
                    bar = None
                    if verbose > 0:
                        from tqdm.auto import tqdm
                        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                   desc=os.path.basename(path))
                    try:
                        while True:
                            chunk = resp.read(1 << 20)
                            if not chunk:
                                break
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            if bar is not None:
                                bar.update(len(chunk))
                    finally:
                        if bar is not None:
                            bar.close()
            except (urllib.error.URLError, OSError) as e:
                if is_disk_full(e):
                    raise disk_full_error(path, e) from None
                raise ConnectionError(
                    "could not download {} to {}: {}. Are you offline? Download the file "
                    "by other means and pass its path instead.".format(url, path, e)) from None
        if total is not None and received != total:
            raise ConnectionError("download of {} stopped after {} of {} bytes; {} was not "
                                  "written".format(url, received, total, path))
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ValueError("{} downloaded from {} has SHA-256 {}, expected {}; {} was not "
                             "written".format(os.path.basename(path), url, digest.hexdigest(),
                                              sha256, path))
        if validate is not None:
            validate(tmp)
    if verbose > 0:
        print("Downloaded {} to {} (SHA-256 {})".format(url, path, digest.hexdigest()))
    return path
