"""numgrad.distributed: what a script asks before it goes distributed.

numgrad runs in one process, so it answers as a PyTorch build without
distributed support would: ``is_available()`` is False and no process
group is ever initialised.  Scripts that check first (``if
dist.is_available() and dist.is_initialized()``) take their
single-process path; a call that needs a process group raises."""
import os

_NOT_INITIALIZED = ("Default process group has not been initialized, "
                    "please make sure to call init_process_group.")
_NO_DISTRIBUTED = ("numgrad.distributed.{name}: distributed training is "
                   "not supported; numgrad runs in a single process "
                   "(numgrad.distributed.is_available() is False).")


def is_available():
    return False


def is_initialized():
    return False


def is_torchelastic_launched():
    """Whether torchrun started this process (it sets this variable)."""
    return os.getenv("TORCHELASTIC_RUN_ID") is not None


def is_nccl_available():
    return False


def is_gloo_available():
    return False


def is_mpi_available():
    return False


def get_rank(group=None):
    raise ValueError(_NOT_INITIALIZED)


def get_world_size(group=None):
    raise ValueError(_NOT_INITIALIZED)


def _unsupported(name):
    def call(*args, **kwargs):
        raise NotImplementedError(_NO_DISTRIBUTED.format(name=name))
    call.__name__ = call.__qualname__ = name
    call.__doc__ = "Not supported: numgrad runs in a single process."
    return call


init_process_group = _unsupported("init_process_group")
destroy_process_group = _unsupported("destroy_process_group")
barrier = _unsupported("barrier")
broadcast = _unsupported("broadcast")
all_reduce = _unsupported("all_reduce")
reduce = _unsupported("reduce")
all_gather = _unsupported("all_gather")
gather = _unsupported("gather")
scatter = _unsupported("scatter")
new_group = _unsupported("new_group")
