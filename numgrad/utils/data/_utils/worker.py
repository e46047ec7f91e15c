"""Worker processes, as ``torch.utils.data._utils.worker``: numgrad loads
every batch in the calling process, so there is never a worker."""

__all__ = ["get_worker_info"]


def get_worker_info():
    """Always None: numgrad loads data in the calling process."""
    return None
