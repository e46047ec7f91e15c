"""The on-disk kernel cache across processes, and its failure modes."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np, numgrad as ng
    from numgrad.fusion import recorder
    recorder.set_min_elements(0)
    x = ng.tensor(np.arange(6.0))
    y = (x * 2 + 1).exp() / (x + 3)
    expected = np.exp(np.arange(6.0) * 2 + 1) / (np.arange(6.0) + 3)
    np.testing.assert_allclose(y.numpy(), expected)
    from numgrad.fusion import cache
    kernel = next(iter(cache._memory.values()))[0]
    print("hits", sum(kernel.stats.cache_hits.values()),
          "dir", cache.cache_dir())
""")


def _run(cache_dir, extra_env=None):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(cache_dir))
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)


def test_new_process_reuses_compiled_kernels(tmp_path):
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "hits 0" in first.stdout
    second = _run(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "hits 1" in second.stdout


def test_corrupt_entries_are_rebuilt(tmp_path):
    assert _run(tmp_path).returncode == 0
    pycache = tmp_path / "__pycache__"
    for f in pycache.iterdir():
        f.write_bytes(b"garbage")
    for f in tmp_path.glob("*.py"):
        f.write_text("this is not python")
    again = _run(tmp_path)
    assert again.returncode == 0, again.stderr


def test_unwritable_directory_falls_back(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    result = _run(blocker / "kernels")
    assert result.returncode == 0, result.stderr
    assert str(blocker) not in result.stdout


def test_concurrent_processes_share_a_cold_cache(tmp_path):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err


def test_clear_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(tmp_path / "k"))
    from numgrad.fusion import cache
    monkeypatch.setattr(cache, "_directory", [None])
    assert cache.cache_dir() == str(tmp_path / "k")
    (tmp_path / "k" / "x.py").write_text("")
    cache.clear_cache()
    assert not (tmp_path / "k").exists()
    monkeypatch.setattr(cache, "_directory", [None])
