"""The torch names real programs touch outside the op set: accelerator,
compile, jit, onnx, distributed, backends flags and process-wide
settings, each called on numgrad and on PyTorch's CPU build and
compared (values, error types, the words in the errors)."""
import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
import torch

import numgrad as ng
from numgrad.backends import cuda as cuda_backend

NO_ACCELERATOR = "Cannot access accelerator device when none is available"
# torch 2.13 deprecates TorchScript and warns as its compile stack loads
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")


def _raised(call):
    """(exception type name, message) of ``call()``, or None."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - compared, not handled
        return type(error).__name__, str(error)
    return None


def _signature(fn):
    return [(p.name, p.kind, p.default)
            for p in inspect.signature(fn).parameters.values()]


# ---- accelerator -----------------------------------------------------------

@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as PyTorch's CPU build sees it, whatever GPU it has."""
    monkeypatch.setattr(cuda_backend, "is_available", lambda: False)


def test_accelerator_queries_match_torch_cpu_build(no_gpu):
    for lib in (ng, torch):
        acc = lib.accelerator
        assert acc.is_available() is False
        assert acc.current_accelerator() is None
        assert acc.current_accelerator(check_available=True) is None
        assert acc.device_count() == 0
        device = (acc.current_accelerator().type if acc.is_available()
                  else "cpu")
        assert device == "cpu"
        assert str(lib.ones(2, device=device).device) == "cpu"


@pytest.mark.parametrize("call", [
    "current_device_index()", "set_device_index(0)", "synchronize()",
    "memory_allocated()", "max_memory_allocated()", "memory_reserved()",
    "reset_peak_memory_stats()", "empty_cache()", "get_memory_info()"])
def test_accelerator_calls_needing_a_device_raise_as_torch(no_gpu, call):
    ours = _raised(lambda: eval("ng.accelerator." + call))
    theirs = _raised(lambda: eval("torch.accelerator." + call))
    assert ours == theirs
    assert ours[0] == "RuntimeError" and NO_ACCELERATOR in ours[1]


def test_accelerator_device_index_context_as_torch(no_gpu):
    for lib in (ng, torch):
        with lib.accelerator.device_index(None):
            pass  # None switches nothing, so needs no device
        with pytest.raises(RuntimeError, match=NO_ACCELERATOR):
            with lib.accelerator.device_index(0):
                pass


@pytest.mark.parametrize("old, new", [("current_device_idx()",
                                       "current_device_index"),
                                      ("set_device_idx(0)",
                                       "set_device_index")])
def test_accelerator_deprecated_names_warn_as_torch(no_gpu, old, new):
    for lib in ("ng", "torch"):
        with pytest.warns(FutureWarning, match=f"Use `{new}` instead"):
            with pytest.raises(RuntimeError, match=NO_ACCELERATOR):
                eval(f"{lib}.accelerator.{old}")


def test_accelerator_signatures_match_torch():
    names = ["is_available", "current_accelerator", "device_count",
             "current_device_index", "set_device_index", "synchronize",
             "memory_allocated", "max_memory_allocated", "memory_reserved",
             "reset_peak_memory_stats", "empty_cache", "get_memory_info",
             "current_device_idx", "set_device_idx"]
    for name in names:
        assert _signature(getattr(ng.accelerator, name)) == \
            _signature(getattr(torch.accelerator, name)), name


_ON_SIMULATOR = """
import json
import numgrad as ng
acc = ng.accelerator
device = acc.current_accelerator().type if acc.is_available() else "cpu"
out = {"available": acc.is_available(), "device": device,
       "count": acc.device_count()}
if acc.is_available():
    current = acc.current_accelerator()
    out["current"] = [current.type, current.index]
    out["checked"] = str(acc.current_accelerator(check_available=True))
    out["index"] = acc.current_device_index()
    before = acc.memory_allocated()
    x = ng.ones(1000, device=device) * 2
    acc.synchronize()
    out["tensor"] = [str(x.device), x.sum().item()]
    out["grew"] = acc.memory_allocated() > before
    acc.set_device_index(0)
    with acc.device_index(0):
        out["in_block"] = acc.current_device_index()
    for name, call in [("gpu1", lambda: acc.set_device_index(1)),
                       ("cpu", lambda: acc.synchronize("cpu"))]:
        try:
            call()
        except Exception as error:
            out[name] = type(error).__name__
print(json.dumps(out))
"""


def test_accelerator_on_the_cuda_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", _ON_SIMULATOR], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if importlib.util.find_spec("numba_cuda") is None:
        # `pip install .[test]` without the cuda extra: no backend at all
        assert out == {"available": False, "device": "cpu", "count": 0}
        return
    assert out == {"available": True, "device": "cuda", "count": 1,
                   "current": ["cuda", None], "checked": "cuda",
                   "index": 0, "tensor": ["cuda:0", 2000.0],
                   "grew": True, "in_block": 0, "gpu1": "RuntimeError",
                   "cpu": "ValueError"}


# ---- compile ---------------------------------------------------------------

def _twin_models():
    """The same small MLP in PyTorch and numgrad, with equal weights."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 3))
    ours = ng.nn.Sequential(ng.nn.Linear(4, 8), ng.nn.Tanh(),
                            ng.nn.Linear(8, 3))
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    return ours, theirs


def test_compiled_module_computes_and_trains_as_torch():
    ours, theirs = _twin_models()
    ours_c = ng.compile(ours)
    theirs_c = torch.compile(theirs, backend="eager")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out_ours, out_theirs = ours_c(ng.tensor(x)), theirs_c(torch.tensor(x))
    np.testing.assert_allclose(out_ours.detach().numpy(),
                               out_theirs.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    for model, out, lib in ((ours_c, out_ours, ng), (theirs_c, out_theirs,
                                                     torch)):
        optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
        out.square().mean().backward()
        optimizer.step()
    for (name, a), (_, b) in zip(ours.named_parameters(),
                                 theirs.named_parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_compiled_module_wraps_as_torch_does():
    ours, theirs = _twin_models()
    ours_c, theirs_c = ng.compile(ours), torch.compile(theirs)
    assert type(ours_c).__name__ == type(theirs_c).__name__ \
        == "OptimizedModule"
    assert isinstance(ours_c, ng.nn.Module)
    assert ours_c._orig_mod is ours and theirs_c._orig_mod is theirs
    keys = list(ours_c.state_dict())
    assert keys == list(theirs_c.state_dict())
    assert keys == ["_orig_mod." + k for k in ours.state_dict()]
    assert [n for n, _ in ours_c.named_parameters()] == \
        [n for n, _ in theirs_c.named_parameters()]
    assert all(a is b for a, b in zip(ours_c.parameters(),
                                      ours.parameters()))
    assert repr(ours_c) == repr(theirs_c)
    assert len(ours_c) == len(theirs_c) == 3


def test_compiled_module_passes_attributes_and_modes_through():
    ours, theirs = _twin_models()
    for model, compiled in ((ours, ng.compile(ours)),
                            (theirs, torch.compile(theirs))):
        assert compiled.training is True
        compiled.eval()
        assert model.training is False and compiled.training is False
        assert all(not m.training for m in model.modules())
        compiled.note = "set through the wrapper"
        assert model.note == "set through the wrapper"
        assert compiled.note == "set through the wrapper"
        del compiled.note
        assert not hasattr(model, "note")
        assert compiled.get_submodule("0") is model[0]
        names = dir(compiled)
        assert "note" not in names and "get_submodule" in names


def test_compiled_module_loads_torch_compiled_checkpoint():
    ours, theirs = _twin_models()
    for p in theirs.parameters():
        torch.nn.init.normal_(p)
    state = {k: v.detach().numpy()
             for k, v in torch.compile(theirs).state_dict().items()}
    result = ng.compile(ours).load_state_dict(state)
    assert list(result.missing_keys) == list(result.unexpected_keys) == []
    np.testing.assert_array_equal(ours[2].bias.detach().numpy(),
                                  theirs[2].bias.detach().numpy())


def scale_and_shift(x):
    return 3 * x + 1


def test_compile_functions_and_decorators_as_torch():
    x = [1.0, -2.0, 0.5]
    for lib in (ng, torch):
        assert lib.compiler.get_default_backend() == "inductor"
        # torch's inductor would build C++ here; eager keeps its semantics
        lib.compiler.set_default_backend("eager")
        try:
            assert lib.compiler.get_default_backend() == "eager"
            plain = lib.compile(scale_and_shift)

            @lib.compile
            def bare(x):
                return scale_and_shift(x)

            @lib.compile(mode="max-autotune-no-cudagraphs")
            def with_mode(x):
                return scale_and_shift(x)

            for fn in (plain, bare, with_mode):
                assert fn(lib.tensor(x)).tolist() == [4.0, -5.0, 2.5]
        finally:
            lib.compiler.set_default_backend(None)
        assert lib.compiler.get_default_backend() == "inductor"
        model = lib.nn.Linear(2, 2)
        assert lib.compile(model, disable=True) is model
        assert lib.compile(scale_and_shift, disable=True) is scale_and_shift


@pytest.mark.parametrize("args, kwargs, kind, words", [
    ((3,), {}, AssertionError, "A callable function is expected"),
    ((scale_and_shift,), {"mode": "fastest"}, RuntimeError,
     "Unrecognized mode=fastest"),
    ((scale_and_shift,), {"mode": "default", "options": {}},
     RuntimeError, "Either mode or options can be specified"),
    ((scale_and_shift,), {"backend": "no-such-backend"}, RuntimeError,
     "Invalid backend: 'no-such-backend'"),
])
def test_compile_refuses_what_torch_refuses(args, kwargs, kind, words):
    for lib in (ng, torch):
        with pytest.raises(kind, match=words):
            lib.compile(*args, **kwargs)


def test_compile_decorator_refuses_none_as_torch():
    for lib in (ng, torch):
        with pytest.raises(RuntimeError, match="Model can't be None"):
            lib.compile(mode="default")(None)


def test_compile_signature_and_backends_match_torch():
    assert _signature(ng.compile) == _signature(torch.compile)
    assert ng.compiler.compile is ng.compile
    assert ng.compiler.list_backends() == torch.compiler.list_backends()
    assert set(ng.compiler.list_backends(exclude_tags=())) <= \
        set(torch.compiler.list_backends(exclude_tags=()))
    assert "eager" in ng.compiler.list_backends(exclude_tags=())


def test_compiler_helpers_as_torch():
    for lib in (ng, torch):
        c = lib.compiler
        assert c.is_compiling() is False
        assert c.is_dynamo_compiling() is False
        assert c.is_exporting() is False
        assert c.disable(scale_and_shift)(2.0) == 7.0
        assert c.disable(recursive=False)(scale_and_shift)(2.0) == 7.0
        assert c.reset() is None


# ---- jit, onnx, distributed -----------------------------------------------

def _model_file(lib):
    """A model written the way torch model files use torch.jit, with
    ``lib`` standing for ``torch``."""
    nn, jit = lib.nn, lib.jit

    @jit.script
    def scaled_tanh(x):
        return 2.0 * lib.tanh(x)

    class Block(nn.Module):
        scale: jit.Final[float]

        def __init__(self):
            super().__init__()
            self.scale = 0.5
            self.fc = nn.Linear(3, 3)

        @jit.ignore
        def describe(self):
            return "block"

        @jit.unused
        def debug_only(self, x):
            return x

        def forward(self, x):
            if not jit.is_scripting() and not jit.is_tracing():
                x = jit.annotate(lib.Tensor, x)
            if lib.onnx.is_in_onnx_export():
                raise AssertionError("never exporting here")
            return self.scale * scaled_tanh(self.fc(x))
    return Block


def test_jit_annotations_run_model_files_unchanged():
    ours, theirs = _model_file(ng)(), _model_file(torch)()
    ours.load_state_dict({k: v.detach().numpy()
                          for k, v in theirs.state_dict().items()})
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(ours(ng.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert ours.describe() == theirs.describe() == "block"
    assert ng.jit.Final is torch.jit.Final
    for name in ("ignore", "unused", "export"):
        for lib in (ng, torch):
            assert getattr(lib.jit, name)(scale_and_shift) is \
                scale_and_shift, name
    assert ng.jit.ignore(drop=True)(scale_and_shift) is scale_and_shift
    assert ng.jit.script(scale_and_shift)(ng.tensor([1.0])).item() == \
        torch.jit.script(scale_and_shift)(torch.tensor([1.0])).item() == 4


@pytest.mark.parametrize("call", [
    lambda: ng.jit.script(ng.nn.Linear(2, 2)),
    lambda: ng.jit.trace(ng.nn.Linear(2, 2), (ng.ones(1, 2),)),
    lambda: ng.jit.trace(scale_and_shift, (ng.ones(1),)),
    lambda: ng.jit.save(ng.nn.Linear(2, 2), "model.pt"),
    lambda: ng.jit.load("model.pt"),
    lambda: ng.jit.freeze(ng.nn.Linear(2, 2)),
])
def test_jit_refuses_to_make_torchscript(call):
    with pytest.raises(NotImplementedError, match="TorchScript"):
        call()


def test_onnx_export_refuses_naming_onnx(tmp_path):
    model, args = ng.nn.Linear(2, 2), (ng.ones(1, 2),)
    for call in (lambda: ng.onnx.export(model, args, tmp_path / "m.onnx"),
                 lambda: ng.onnx.export(model, args, f=None,
                                        input_names=["x"], dynamo=True),
                 lambda: ng.onnx.dynamo_export(model, *args)):
        with pytest.raises(NotImplementedError, match="ONNX"):
            call()
    assert not (tmp_path / "m.onnx").exists()
    assert ng.onnx.is_in_onnx_export() is torch.onnx.is_in_onnx_export() \
        is False
    assert [p[0] for p in _signature(ng.onnx.export)][:3] == \
        [p[0] for p in _signature(torch.onnx.export)][:3]


def test_distributed_answers_single_process():
    import torch.distributed as torch_dist
    dist = importlib.import_module("numgrad.distributed")
    assert dist.is_available() is False  # torch without distributed says so
    assert isinstance(torch_dist.is_available(), bool)
    assert dist.is_initialized() is torch_dist.is_initialized() is False
    assert dist.is_torchelastic_launched() is \
        torch_dist.is_torchelastic_launched()
    for name in ("get_rank", "get_world_size"):
        ours = _raised(getattr(dist, name))
        assert ours == _raised(getattr(torch_dist, name))
        assert ours[0] == "ValueError" and "not been initialized" in ours[1]
    with pytest.raises(NotImplementedError, match="distributed training"):
        dist.init_process_group("gloo")
    with pytest.raises(NotImplementedError, match="all_reduce"):
        dist.all_reduce(ng.ones(2))


# ---- backends flags and process-wide settings ------------------------------

@pytest.fixture
def restore_settings():
    """Put every switch these tests turn back, in both libraries."""
    saved = [(lib, lib.get_float32_matmul_precision(),
              lib.get_deterministic_debug_mode(), lib.get_num_threads(),
              {name: getattr(lib.backends.cudnn, name)
               for name in ("benchmark", "deterministic", "enabled",
                            "allow_tf32")})
             for lib in (ng, torch)]
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on mixing spellings
        for lib, precision, debug_mode, threads, cudnn in saved:
            lib.set_float32_matmul_precision(precision)
            lib.set_deterministic_debug_mode(debug_mode)
            lib.set_num_threads(threads)
            for name, value in cudnn.items():
                setattr(lib.backends.cudnn, name, value)


def test_cudnn_and_mps_flags_as_torch_cpu_build(restore_settings):
    cudnn = importlib.import_module("numgrad.backends.cudnn")
    assert cudnn is ng.backends.cudnn
    for name in ("benchmark", "deterministic", "enabled", "allow_tf32"):
        assert getattr(cudnn, name) == getattr(torch.backends.cudnn, name)
    assert cudnn.is_available() is torch.backends.cudnn.is_available()
    assert cudnn.version() is torch.backends.cudnn.version() is None
    for lib in (ng, torch):
        lib.backends.cudnn.benchmark = True
        lib.backends.cudnn.deterministic = True
        assert lib.backends.cudnn.benchmark is True
        assert lib.backends.cudnn.deterministic is True
        assert lib.backends.mps.is_available() is False
        assert lib.backends.mps.is_built() is False


def test_backend_flags_leave_the_device_layer_alone():
    assert str(ng.backends.device("cuda:0")) == "cuda:0"
    assert ng.backends.resolve(None) == ng.device("cpu")
    assert ng.backends.cuda.is_available is cuda_backend.is_available
    assert ng.backends.cuda.is_available() == ng.cuda.is_available()


def test_matmul_precision_and_tf32_flag_as_torch(restore_settings):
    for lib in (ng, torch):
        matmul = lib.backends.cuda.matmul
        assert lib.get_float32_matmul_precision() == "highest"
        assert matmul.allow_tf32 is False
        assert matmul.allow_fp16_reduced_precision_reduction is True
        for precision, tf32 in (("high", True), ("medium", True),
                                ("highest", False)):
            lib.set_float32_matmul_precision(precision)
            assert lib.get_float32_matmul_precision() == precision
            assert matmul.allow_tf32 is tf32
        matmul.allow_tf32 = True
        assert lib.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="is not one of 'highest'"):
            lib.set_float32_matmul_precision("fastest")
        assert lib.get_float32_matmul_precision() == "high"
        with pytest.raises(RuntimeError, match="expects a str"):
            lib.set_float32_matmul_precision(1)
        with pytest.raises(AttributeError, match="Unknown attribute"):
            matmul.no_such_flag = 1


def test_deterministic_algorithms_as_torch(restore_settings):
    for lib in (ng, torch):
        assert lib.are_deterministic_algorithms_enabled() is False
        lib.use_deterministic_algorithms(True, warn_only=True)
        assert lib.are_deterministic_algorithms_enabled() is True
        assert lib.is_deterministic_algorithms_warn_only_enabled() is True
        assert lib.get_deterministic_debug_mode() == 1
        for mode, number in (("error", 2), ("default", 0), (1, 1)):
            lib.set_deterministic_debug_mode(mode)
            assert lib.get_deterministic_debug_mode() == number
        with pytest.raises(RuntimeError, match="invalid value of debug"):
            lib.set_deterministic_debug_mode("loud")
        with pytest.raises(RuntimeError, match="expected 0, 1, or 2"):
            lib.set_deterministic_debug_mode(3)
        with pytest.raises(TypeError, match="must be bool"):
            lib.use_deterministic_algorithms("yes")


def test_num_threads_drive_numba_as_torch(restore_settings):
    for lib in (ng, torch):
        lib.set_num_threads(1)
        assert lib.get_num_threads() == 1
        for bad, words in ((0, "positive integer"), (-2, "positive integer"),
                           (1.5, "expects an int"), (True, "expects an int")):
            with pytest.raises(RuntimeError, match=words):
                lib.set_num_threads(bad)
    assert numba.get_num_threads() == 1
    ng.set_num_threads(10_000)  # more than Numba's pool: the whole pool
    assert ng.get_num_threads() == numba.config.NUMBA_NUM_THREADS


# ---- import cost and independence from torch -------------------------------

def test_import_stays_lazy_and_torch_free():
    code = ("import sys, numgrad as ng\n"
            "eager = [m for m in ('numgrad.nn', 'numgrad.compiler', "
            "'numgrad.jit', 'numgrad.onnx', 'numgrad.distributed') "
            "if m in sys.modules]\n"
            "ng.compile, ng.jit, ng.onnx, ng.distributed, ng.accelerator\n"
            "ng.compile(ng.nn.Linear(1, 1))\n"
            "print(eager, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "False"]
