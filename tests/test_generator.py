"""numgrad.Generator and the global generator, generator= and size= on
the random factories, with PyTorch's signatures and errors as reference.
Numbers differ from PyTorch's; one seed must always give the same
ones."""
import pickle

import numpy as np
import pytest

import numgrad


def _raises_like(ours, theirs, same_message=True):
    """Both calls fail with the same exception type (and message)."""
    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(expected.type) as got:
        ours()
    if same_message:
        assert str(got.value) == str(expected.value)


def _seeded(seed=7):
    return numgrad.Generator().manual_seed(seed)


# ---- Generator --------------------------------------------------------------

def test_generator_api_as_torch(torch):
    g = numgrad.Generator()
    assert g.manual_seed(5) is g
    assert g.initial_seed() == 5
    assert g.device == numgrad.device("cpu")
    assert numgrad.Generator(device="cpu").device.type == "cpu"
    new_seed = g.seed()
    assert g.initial_seed() == new_seed
    assert 0 <= new_seed < 2 ** 64
    # Negative seeds wrap to 64 bits, as PyTorch reports them.
    assert (numgrad.Generator().manual_seed(-1).initial_seed()
            == torch.Generator().manual_seed(-1).initial_seed())
    assert not {"manual_seed", "seed", "initial_seed", "get_state",
                "set_state", "device", "clone_state"} - set(dir(g))


def test_each_generator_seeds_itself_differently():
    assert numgrad.Generator().initial_seed() != \
        numgrad.Generator().initial_seed()


@pytest.mark.parametrize("seed", [1.5, "a", None, True])
def test_manual_seed_refuses_non_integers_as_torch(torch, seed):
    _raises_like(lambda: numgrad.Generator().manual_seed(seed),
                 lambda: torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", [2 ** 64, -2 ** 63 - 1])
def test_manual_seed_overflow_as_torch(torch, seed):
    _raises_like(lambda: numgrad.Generator().manual_seed(seed),
                 lambda: torch.Generator().manual_seed(seed))


def test_unknown_device_as_torch(torch):
    _raises_like(lambda: numgrad.Generator("foo"),
                 lambda: torch.Generator("foo"), same_message=False)


def test_same_seed_same_numbers():
    a, b = _seeded(3), _seeded(3)
    for draw in (lambda g: numgrad.rand(5, generator=g),
                 lambda g: numgrad.randn(2, 3, generator=g),
                 lambda g: numgrad.randint(0, 10, (6,), generator=g),
                 lambda g: numgrad.randperm(9, generator=g),
                 lambda g: numgrad.normal(0.0, 2.0, (4,), generator=g),
                 lambda g: numgrad.normal(numgrad.zeros(3), 1.0,
                                          generator=g),
                 lambda g: numgrad.rand_like(numgrad.zeros(4), generator=g),
                 lambda g: numgrad.randn_like(numgrad.zeros(4),
                                              generator=g),
                 lambda g: numgrad.randint_like(numgrad.zeros(4), 9,
                                                generator=g)):
        assert draw(a).tolist() == draw(b).tolist()
    assert numgrad.rand(4, generator=_seeded(1)).tolist() != \
        numgrad.rand(4, generator=_seeded(2)).tolist()


def test_a_generator_leaves_the_global_stream_alone():
    numgrad.manual_seed(11)
    expected = numgrad.rand(6).tolist()
    numgrad.manual_seed(11)
    first = numgrad.rand(3).tolist()
    numgrad.randn(100, generator=_seeded())
    assert first + numgrad.rand(3).tolist() == expected


def test_state_round_trip_across_generators():
    g = _seeded(5)
    numgrad.rand(3, generator=g)
    state = g.get_state()
    assert state.dtype == numgrad.uint8 and state.dim() == 1
    expected = numgrad.randn(7, generator=g).tolist()
    other = numgrad.Generator().manual_seed(99)
    assert other.set_state(state) is other
    assert numgrad.randn(7, generator=other).tolist() == expected
    assert other.initial_seed() == 5  # the seed travels, as in PyTorch
    g.set_state(state)
    assert numgrad.randn(7, generator=g).tolist() == expected
    twin = g.clone_state()
    assert numgrad.rand(4, generator=twin).tolist() == \
        numgrad.rand(4, generator=g).tolist()


def test_state_survives_save_load_and_pickle(tmp_path):
    g = _seeded(8)
    path = tmp_path / "rng.pt"
    numgrad.save({"rng": g.get_state()}, path)
    expected = numgrad.rand(5, generator=g).tolist()
    restored = numgrad.Generator().set_state(numgrad.load(path)["rng"])
    assert numgrad.rand(5, generator=restored).tolist() == expected
    copy = pickle.loads(pickle.dumps(g))
    assert numgrad.rand(5, generator=copy).tolist() == \
        numgrad.rand(5, generator=g).tolist()


def test_set_state_errors_as_torch(torch):
    _raises_like(lambda: numgrad.Generator().set_state([1, 2]),
                 lambda: torch.Generator().set_state([1, 2]),
                 same_message=False)
    _raises_like(lambda: numgrad.Generator().set_state(numgrad.zeros(45)),
                 lambda: torch.Generator().set_state(torch.zeros(5056)),
                 same_message=False)
    short = numgrad.zeros(3, dtype=numgrad.uint8)
    with pytest.raises(RuntimeError, match="state of size 45 but found "
                       "the input RNG state size to be 3"):
        numgrad.Generator().set_state(short)


def test_global_generator_is_a_generator(torch):
    assert isinstance(numgrad.default_generator, numgrad.Generator)
    assert numgrad.manual_seed(4) is numgrad.default_generator
    assert numgrad.initial_seed() == 4
    assert numgrad.manual_seed(4.7).initial_seed() == \
        torch.manual_seed(4.7).initial_seed()
    state = numgrad.get_rng_state()
    expected = numgrad.rand(5).tolist()
    numgrad.rand(3)
    numgrad.set_rng_state(state)
    assert numgrad.rand(5).tolist() == expected
    assert numgrad.default_generator.get_state().tolist() == \
        numgrad.get_rng_state().tolist()
    seed = numgrad.seed()
    assert numgrad.initial_seed() == seed


def test_numpy_generators_still_accepted():
    a = numgrad.rand(3, generator=np.random.default_rng(2)).tolist()
    assert a == numgrad.rand(3, generator=np.random.default_rng(2)).tolist()


@pytest.mark.parametrize("make", [
    lambda g: numgrad.rand(2, generator=g),
    lambda g: numgrad.randperm(3, generator=g),
])
def test_generator_of_the_wrong_type(torch, make):
    with pytest.raises(TypeError, match="generator must be a "
                       "numgrad.Generator"):
        make(5)
    with pytest.raises(TypeError):
        torch.rand(2, generator=5)


# ---- size= and factory signatures ----------------------------------------

SIZE_CALLS = [
    ("zeros", (), {"size": (2, 3)}),
    ("zeros", (), {"size": ()}),
    ("zeros", ([2, 3],), {}),
    ("ones", (), {"size": [4]}),
    ("empty", (), {"size": (0, 2)}),
    ("rand", (), {"size": (2, 1)}),
    ("randn", (), {"size": (2, 3)}),
    ("randn", (2, 3), {}),
    ("full", (), {"size": (2,), "fill_value": 3}),
    ("full", ((2, 2), 1.5), {}),
    ("randint", (10, (3,)), {}),
    ("randint", (), {"high": 10, "size": (3,)}),
    ("randint", (), {"low": 1, "high": 10, "size": (2, 2)}),
    ("randperm", (), {"n": 5}),
    ("normal", (0.0, 1.0), {"size": (2,)}),
]


@pytest.mark.parametrize("name,args,kwargs", SIZE_CALLS,
                         ids=[f"{c[0]}-{i}" for i, c in
                              enumerate(SIZE_CALLS)])
def test_size_keyword_as_torch(torch, name, args, kwargs):
    ours = getattr(numgrad, name)(*args, **kwargs)
    theirs = getattr(torch, name)(*args, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).split(".")[-1]


@pytest.mark.parametrize("call", [
    lambda m: m.zeros(2, size=(3,)),
    lambda m: m.rand(-1),
    lambda m: m.randint(3, 2, (3,)),
    lambda m: m.randint(0, 0, (0,)),
    lambda m: m.randperm(-1),
    lambda m: m.normal(0.0, -1.0, (2,)),
    lambda m: m.normal(0.0, -0.5, (2,)),
])
def test_factory_errors_as_torch(torch, call):
    _raises_like(lambda: call(numgrad), lambda: call(torch))


@pytest.mark.parametrize("call", [
    lambda m: m.rand(2, size=(3,)),
    lambda m: m.randint(10),
    lambda m: m.normal(0.0, 1.0),
])
def test_factory_signature_errors_as_torch(torch, call):
    # PyTorch lists its overloads in these messages; the type is the same.
    _raises_like(lambda: call(numgrad), lambda: call(torch),
                 same_message=False)


def test_nn_init_takes_a_generator():
    import numgrad.nn as nn
    a, b = numgrad.empty(3, 4), numgrad.empty(3, 4)
    nn.init.uniform_(a, generator=numgrad.Generator().manual_seed(7))
    nn.init.uniform_(b, generator=numgrad.Generator().manual_seed(7))
    assert a.tolist() == b.tolist()
    nn.init.normal_(a, generator=numgrad.Generator().manual_seed(8))
    assert a.tolist() != b.tolist()
