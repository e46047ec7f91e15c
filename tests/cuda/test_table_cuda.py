"""Every structured op in the op table has its CUDA twin (pointwise ops
are generated from their formulas and need none)."""
import numgrad  # noqa: F401
from numgrad.backends import cuda
from numgrad.ops import cuda as twins
from numgrad.ops.registry import OP_TABLE


def test_every_structured_op_has_a_cuda_forward():
    cuda.require()
    assert twins.missing() == []
    assert all(callable(spec.cuda) for spec in OP_TABLE.values()
               if spec.kind == "structured")
