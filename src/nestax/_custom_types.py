"""Shape aliases shared by the public API (jaxtyping).

`d` is the number of input coordinates of a point function, `B` a batch size, `m...` the
output shape of the function.
"""

from collections.abc import Callable
from typing import Any

from jaxtyping import Array, ArrayLike, Float, PyTree

Point = Float[ArrayLike, " d"]
Scalar = Float[ArrayLike, ""]
Batch = Float[ArrayLike, "B d"]
PointFunction = Callable[..., Any]
Params = PyTree[Any]

__all__ = ["Array", "ArrayLike", "Batch", "Float", "Params", "Point", "PointFunction", "Scalar"]
