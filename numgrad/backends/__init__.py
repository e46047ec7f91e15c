"""Devices.  The CPU backend runs NumPy arrays and Numba ``@njit``
kernels; a CUDA backend plugs in behind the same interface."""


class device:
    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int):
            spec, index = "cuda", spec
        kind, _, number = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                "Expected one of cpu, cuda device type at start of device "
                f"string: {spec}")
        self.type = kind
        self.index = int(number) if number else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return (isinstance(other, device) and self.type == other.type
                and (self.index or 0) == (other.index or 0))

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


CPU = device("cpu")


def resolve(spec):
    if spec is None:
        return CPU
    d = device(spec)
    if d.type == "cuda":
        from .. import cuda
        if not cuda.is_available():
            raise RuntimeError(
                "Found no NVIDIA driver on your system. numgrad's CUDA "
                "backend needs a GPU and the numba-cuda package "
                "(pip install 'numgrad[cuda]').")
        raise NotImplementedError(
            "numgrad's CUDA backend is not available in this build")
    return CPU
