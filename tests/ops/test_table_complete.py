"""Every op in the table is complete and has tests."""
import numgrad  # noqa: F401  (registers every op)
from numgrad.ops.registry import OP_TABLE, validate

from .opinfo import INTEGRAL, LOGICAL, NOT_DIFFERENTIABLE, POINTWISE

# Structured ops -> the test module that checks values, gradients and
# second-order gradients (the backward-of-backward ops are exercised by the
# gradgradchecks of the op they serve).
STRUCTURED = {
    "test_structured": [
        "sum", "mean", "prod", "amax", "norm", "softmax", "log_softmax",
        "reshape", "permute", "expand", "sum_to_size", "clone", "to_copy",
        "cat", "flip", "repeat", "index", "index_backward", "index_put",
        "index_fill_zero", "gather", "scatter_add_zeros", "mm"],
    "test_conv": ["conv2d", "conv2d_input_grad", "conv2d_weight_grad"],
    "test_pool": ["max_pool2d", "max_pool2d_backward", "max_pool2d_gather",
                  "avg_pool2d", "avg_pool2d_backward"],
    "test_norm": ["batch_norm", "layer_norm"],
    "test_resample": ["upsample2d", "upsample2d_backward", "constant_pad_nd",
                      "index_pad", "index_pad_backward"],
    "nn.test_losses": ["cross_entropy_rows", "binary_cross_entropy"],
}


def test_every_op_is_complete():
    validate()


def test_every_op_has_a_test_entry():
    tested = ({i.name for i in POINTWISE} | set(NOT_DIFFERENTIABLE)
              | set(LOGICAL) | set(INTEGRAL) | {"where"})
    for names in STRUCTURED.values():
        tested |= set(names)
    assert sorted(set(OP_TABLE) - tested) == []


def test_every_op_has_a_cuda_slot():
    assert all(hasattr(spec, "cuda") for spec in OP_TABLE.values())
