"""The op table: importing this package registers every op."""
from . import (arith, index, inplace, linalg, pointwise, reduce,  # noqa: F401
               shape, softmax)
from .registry import OP_TABLE, validate  # noqa: F401

validate()
