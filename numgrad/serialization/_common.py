"""What every reader shares: the corrupt-file error and reads that check
a claimed size against the bytes the file really holds before
allocating anything."""
import bisect
import os
import pickle
import struct
import zipfile
import zlib

# numpy's limits: intp-sized byte counts and at most 64 dimensions
_MAX_NBYTES = 2 ** 63 - 1
_MAX_NDIM = 64
_CHUNK = 1 << 20
# deflate emits at most 258 bytes per 2 bits: no stream inflates further
_MAX_INFLATE = 1032


class CorruptCheckpointError(RuntimeError, pickle.UnpicklingError):
    """A checkpoint whose claims (sizes, offsets, strides) do not fit the
    bytes it holds.

    A RuntimeError, as torch.load raises for such files, and a
    pickle.UnpicklingError, as torch raises for a pickle it refuses.
    """


def corrupt(message):
    return CorruptCheckpointError("corrupt checkpoint: " + message)


def remaining(fh):
    """Bytes from the position of the seekable ``fh`` to its end."""
    pos = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(pos)
    return end - pos


def read_exact(fh, n, what):
    """Exactly ``n`` bytes of ``fh`` as a fresh bytearray.

    The claim is checked against the bytes left before the buffer is
    allocated: a 300-byte file must not make us reserve a gigabyte.
    """
    left = remaining(fh)
    if n < 0 or n > left:
        raise corrupt(f"{what} is truncated: it claims {n} bytes but only "
                      f"{left} bytes remain in the file")
    buf = bytearray(n)
    view = memoryview(buf)
    readinto = getattr(fh, "readinto", None)
    got = 0
    while got < n:
        if readinto is not None:
            k = readinto(view[got:])
        else:
            chunk = fh.read(min(n - got, _CHUNK))
            k = len(chunk)
            view[got:got + k] = chunk
        if not k:
            raise corrupt(f"{what} is truncated: it claims {n} bytes but "
                          f"only {got} could be read")
        got += k
    return buf


class BoundedReader:
    """``fh`` whose reads never ask for more than the file has left: a
    buffered file allocates the size it is asked for before reading."""

    def __init__(self, fh):
        self._fh = fh
        self._end = fh.tell() + remaining(fh)
        self.tell = fh.tell
        self.seek = fh.seek
        self.readline = fh.readline

    def read(self, n=-1):
        left = max(self._end - self._fh.tell(), 0)
        return self._fh.read(left if n is None or n < 0 else min(n, left))


def check_shape(shape, itemsize, what):
    """Number of elements of ``shape``, refusing shapes numpy cannot hold
    (negative, too many dimensions, more bytes than an intp counts)."""
    if len(shape) > _MAX_NDIM:
        raise corrupt(f"{what} has {len(shape)} dimensions (at most "
                      f"{_MAX_NDIM} are supported)")
    numel, span = 1, max(itemsize, 1)
    for n in shape:
        if n < 0:
            raise corrupt(f"{what} has a negative size {tuple(shape)}")
        numel *= n
        span *= max(n, 1)
        if span > _MAX_NBYTES:
            raise corrupt(f"{what} of size {tuple(shape)} is too large "
                          "(its byte count overflows int64)")
    return numel


class Regions:
    """Byte ranges of a file already handed out: two zip entries sharing
    one range would load the same bytes twice (a zip bomb's trick)."""

    def __init__(self):
        self._starts, self._ends = [], []

    def claim(self, start, end, what):
        i = bisect.bisect_right(self._starts, start)
        if (i and self._ends[i - 1] > start) or \
                (i < len(self._starts) and self._starts[i] < end):
            raise corrupt(f"{what} overlaps another zip record")
        self._starts.insert(i, start)
        self._ends.insert(i, end)


def open_zip(fh):
    try:
        return zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError,
            struct.error) as exc:
        raise CorruptCheckpointError(
            f"failed reading zip archive: {exc}") from None


def read_member(zf, info, regions, file_end):
    """The bytes of zip record ``info`` as a fresh bytearray.

    The record must lie inside the file and overlap no record read
    before; a compressed record grows as it really inflates, never to
    the size it claims up front."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise corrupt(f"zip record {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise corrupt(f"zip record {name!r} uses unsupported compression "
                      f"method {info.compress_type}")
    fp = zf.fp
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise corrupt(f"zip record {name!r} has no local header at offset "
                      f"{info.header_offset}")
    start = info.header_offset + 30 + sum(struct.unpack("<HH", header[26:]))
    left = max(file_end - start, 0)
    if info.compress_size > left:
        raise corrupt(f"zip record {name!r} claims {info.compress_size} "
                      f"bytes but only {left} bytes follow its header")
    if info.file_size > _MAX_INFLATE * info.compress_size + 64:
        raise corrupt(f"zip record {name!r} claims {info.file_size} bytes, "
                      f"more than its {info.compress_size} compressed bytes "
                      "can hold")
    regions.claim(info.header_offset, start + info.compress_size,
                  f"zip record {name!r}")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise corrupt(f"stored zip record {name!r} claims {info.file_size}"
                          f" bytes but holds {info.compress_size}")
        fp.seek(start)
        return read_exact(fp, info.compress_size, f"zip record {name!r}")
    return _inflate(zf, info)


def _inflate(zf, info):
    out = bytearray()
    try:
        with zf.open(info) as src:
            while len(out) <= info.file_size:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                out += chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise corrupt(f"zip record {info.filename!r}: {exc}") from None
    if len(out) != info.file_size:
        raise corrupt(f"zip record {info.filename!r} claims {info.file_size}"
                      f" bytes but inflates to {len(out)}")
    return out
