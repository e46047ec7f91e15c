"""The op table: importing this package registers every op."""
from . import (arith, index, inplace, linalg, loss, norm,  # noqa: F401
               pointwise, pool, reduce, resample, shape, softmax)
from .registry import OP_TABLE, validate  # noqa: F401

validate()
