"""The DataLoader's helpers, as ``torch.utils.data._utils``: collation,
fetching from datasets, and (absent) worker processes."""
from . import collate, fetch, worker  # noqa: F401
