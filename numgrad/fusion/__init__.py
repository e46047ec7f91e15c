"""Fusion of elementwise chains: the recorder, the chain IR, code
generation and the kernel cache."""
from .cache import cache_dir, clear_cache  # noqa: F401
from .recorder import (flush_all, is_fusion_enabled,  # noqa: F401
                       set_fusion_enabled as set_enabled)


def is_enabled():
    return is_fusion_enabled()
