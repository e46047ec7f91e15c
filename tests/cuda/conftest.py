"""CUDA tests: every op, its gradient and fused chains on the ``cuda``
device against the CPU.

They need a device: a GPU, or Numba's CUDA simulator, which must be
switched on before numba is imported, so it is a separate pytest run:

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda

In a run without either, this directory is not collected (the CPU suite
does not depend on it) and the header says so."""
import numpy as np

from numgrad.backends import cuda as cuda_backend

AVAILABLE = cuda_backend.is_available()
if not AVAILABLE:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config):
    if not AVAILABLE:
        return ("tests/cuda: not collected (no GPU; run them with "
                "NUMBA_ENABLE_CUDASIM=1)")
    kind = "simulator" if cuda_backend.simulated() else "GPU"
    return f"tests/cuda: running on the CUDA {kind}"


def to_cuda(t):
    """A CUDA leaf with the same values and requires_grad as ``t``."""
    return t.detach().to("cuda").requires_grad_(t.requires_grad)


def assert_same(cpu, gpu, rtol=1e-5, atol=1e-6):
    """A CUDA result equals the CPU's within float tolerance."""
    assert gpu.device.type == "cuda", gpu.device
    assert cpu.shape == gpu.shape and cpu.dtype == gpu.dtype
    np.testing.assert_allclose(gpu.detach().cpu().numpy(),
                               cpu.detach().numpy(), rtol=rtol, atol=atol)
