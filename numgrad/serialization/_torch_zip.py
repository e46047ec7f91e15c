"""Reading PyTorch's zip checkpoint format (``torch.save``'s default since
torch 1.6): ``<archive>/data.pkl``, raw storages in
``<archive>/data/<key>``, ``<archive>/byteorder`` and
``<archive>/version``."""
from ._common import Regions, corrupt, read_member
from ._unpickle import Storage, check_storage_pid, unpickle


def is_torch_zip(names):
    return any(n.endswith("/data.pkl") and n.count("/") == 1 for n in names)


def _archive_prefix(names):
    candidates = [n[:-len("data.pkl")] for n in names
                  if n.endswith("/data.pkl") and n.count("/") == 1]
    if not candidates:
        raise RuntimeError("not a PyTorch checkpoint: zip archive has no "
                           "'<archive>/data.pkl' record")
    first = names[0].split("/", 1)[0]
    for c in candidates:
        if c[:-1] == first:
            return c
    return candidates[0]


def load(zf, file_end):
    """The unpickled structure of the archive ``zf`` (storages read)."""
    infos = {info.filename: info for info in zf.infolist()}
    prefix = _archive_prefix(zf.namelist())
    regions = Regions()

    def record(name):
        return read_member(zf, infos[name], regions, file_end)

    byteorder = "<"
    if prefix + "byteorder" in infos:
        mark = bytes(record(prefix + "byteorder")).strip()
        if mark == b"big":
            byteorder = ">"
        elif mark != b"little":
            raise corrupt(f"unknown byteorder {mark[:20]!r}")

    storages = {}

    def persistent_load(pid):
        dtype, key, numel = check_storage_pid(pid, 5)
        st = storages.get(key)
        if st is None:
            name = f"{prefix}data/{key}"
            info = infos.get(name)
            if info is None:
                raise corrupt(f"missing storage record {name!r}")
            # checked before the record is read: the claim must match
            # the record, which must lie inside the file
            nbytes = numel * dtype.itemsize
            if numel < 0 or nbytes != info.file_size:
                raise corrupt(
                    f"storage {key!r}: record size ({info.file_size} bytes "
                    f"in {name!r}) does not match the expected size "
                    f"({nbytes} bytes = {numel} elements of {dtype!r})")
            st = Storage(key, dtype, numel, data=record(name),
                         byteorder=byteorder)
            storages[key] = st
        return st

    pkl = record(prefix + "data.pkl")
    return unpickle(pkl, "checkpoint pickle", persistent_load)
