"""numgrad.utils.data is laid out as torch.utils.data: every import path a
PyTorch user writes works, each name is one object whatever the path,
and the modules import one way (dataloader, sampler, dataset)."""
import ast
import importlib
import pathlib

import pytest

import numgrad

# What torch.utils.data exports and numgrad does not (yet) implement.
NOT_IMPLEMENTED = {
    "DFIterDataPipe", "DataChunk", "DistributedSampler", "IterDataPipe",
    "MapDataPipe", "StackDataset", "_DatasetKind", "argument_validation",
    "functional_datapipe", "guaranteed_datapipes_determinism",
    "non_deterministic", "runtime_validation", "runtime_validation_disabled",
}
MODULES = ["", ".dataset", ".sampler", ".dataloader"]
COLLATE_NAMES = [
    "collate", "collate_float_fn", "collate_int_fn", "collate_numpy_array_fn",
    "collate_numpy_scalar_fn", "collate_str_fn", "collate_tensor_fn",
    "default_collate", "default_collate_err_msg_format",
    "default_collate_fn_map", "default_convert", "np_str_obj_array_pattern",
]
DATA_DIR = pathlib.Path(numgrad.__file__).parent / "utils" / "data"


def _module(root, suffix):
    return importlib.import_module(root + suffix)


@pytest.mark.parametrize("suffix", MODULES)
def test_exports_match_torch(torch, suffix):
    ours = _module("numgrad.utils.data", suffix)
    theirs = _module("torch.utils.data", suffix)
    assert set(ours.__all__) == set(theirs.__all__) - NOT_IMPLEMENTED
    for name in ours.__all__:
        assert hasattr(ours, name), name


@pytest.mark.parametrize("suffix", MODULES)
def test_every_torch_import_path_works(torch, suffix):
    theirs = _module("torch.utils.data", suffix)
    package = _module("numgrad.utils.data", "")
    for name in set(theirs.__all__) - NOT_IMPLEMENTED:
        source = f"from numgrad.utils.data{suffix} import {name}"
        scope = {}
        exec(source, scope)  # the statement a user writes
        assert scope[name] is getattr(package, name), source


def test_collate_module_as_torch(torch):
    from numgrad.utils.data._utils import collate
    from torch.utils.data._utils import collate as torch_collate
    for name in COLLATE_NAMES:
        assert hasattr(torch_collate, name), name
        assert hasattr(collate, name), name
    from numgrad.utils.data import default_collate
    assert collate.default_collate is default_collate


def test_reached_from_numgrad_and_generic():
    import numgrad.utils.data as data
    assert numgrad.utils.data is data
    # Subscripting the bases, as typed PyTorch code does.
    for base in (data.Dataset, data.IterableDataset, data.Sampler,
                 data.DataLoader):
        assert base[int] is not None

    class Numbers(data.Dataset[int]):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 3

    assert list(data.DataLoader(Numbers(), batch_size=None)) == [0, 1, 2]


def _numgrad_imports(path):
    """The numgrad modules a file imports, as dotted names."""
    package = "numgrad." + ".".join(
        path.relative_to(DATA_DIR.parents[1]).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level \
                else ""
            module = ".".join(p for p in (base, node.module) if p)
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("numgrad")}


@pytest.mark.parametrize("module,forbidden", [
    ("dataset.py", ("sampler", "dataloader", "_utils")),
    ("sampler.py", ("dataloader", "_utils")),
    ("_utils/collate.py", ("dataloader", "sampler", "dataset",
                           "_utils.fetch")),
    ("_utils/fetch.py", ("dataloader", "sampler")),
    ("_utils/worker.py", ("dataloader", "sampler", "dataset")),
])
def test_data_modules_import_one_way(module, forbidden):
    imported = _numgrad_imports(DATA_DIR / module)
    for name in forbidden:
        target = "numgrad.utils.data." + name.replace("/", ".")
        assert not any(i == target or i.startswith(target + ".")
                       for i in imported), (module, target)
