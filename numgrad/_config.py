"""Process-wide settings read once from the environment."""
import os


def _flag(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("0", "false", "no", "off", "")


fusion_enabled = _flag("NUMGRAD_FUSION", True)
