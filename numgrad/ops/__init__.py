"""The op table: importing this package registers every op."""
from . import (arith, conv, index, inplace, linalg, loss,  # noqa: F401
               norm, pointwise, pool, reduce, resample, shape, softmax)
from .registry import OP_TABLE, validate  # noqa: F401

validate()
