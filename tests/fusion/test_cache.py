"""The on-disk kernel cache across processes, and its failure modes."""
import importlib.machinery
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import numgrad as ng
from numgrad.fusion import cache, recorder

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


def _fresh(monkeypatch, directory):
    """Point numgrad at ``directory`` as if the process had just started."""
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_directory", [None])
    monkeypatch.setattr(cache, "_memory", {})


def _run_a_chain(value=1.0):
    recorder_min = recorder.MIN_ELEMENTS
    recorder.set_min_elements(0)
    try:
        x = ng.full((7,), value)
        return ((x * 2 + 1).exp() / (x + 3)).numpy()
    finally:
        recorder.set_min_elements(recorder_min)


def test_clear_cache_deletes_only_numgrad_files(tmp_path, monkeypatch):
    directory = tmp_path / "k"
    _fresh(monkeypatch, directory)
    _run_a_chain()
    assert list(directory.glob("numgrad_kernel_*.py"))
    (directory / "notes.txt").write_text("mine")
    (directory / "__pycache__" / "other.pyc").write_bytes(b"theirs")
    (directory / "sub").mkdir()
    cache.clear_cache()
    assert (directory / "notes.txt").read_text() == "mine"
    assert (directory / "__pycache__" / "other.pyc").exists()
    assert (directory / "sub").is_dir()
    left = [p.name for p in directory.rglob("numgrad_kernel_*")]
    assert left == []
    # and the cache still works afterwards
    _fresh(monkeypatch, directory)
    np.testing.assert_allclose(_run_a_chain(), np.exp(3.0) / 4, rtol=1e-6)


def test_configured_directory_writable_by_others_is_refused(tmp_path,
                                                            monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _fresh(monkeypatch, shared)
    with pytest.warns(RuntimeWarning, match="writable by other users"):
        chosen = cache.cache_dir()
    assert chosen == str(tmp_path / "tmp" / f"numgrad-kernels-{os.getuid()}")
    assert (os.stat(chosen).st_mode & 0o777) == 0o700


def test_fallback_planted_by_another_user_is_not_used(tmp_path, monkeypatch):
    """The predictable directory in the shared temp dir, created first by
    someone else: numgrad must neither load from it nor write to it."""
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"numgrad-kernels-{os.getuid()}"
    planted.mkdir()
    (planted / "numgrad_kernel_00000000000000000000.py").write_text(
        "raise SystemExit('planted code ran')\n")
    real_uid = os.getuid()
    # the directory belongs to someone else from this process's view
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)
    _fresh(monkeypatch, blocker / "kernels")
    with pytest.warns(RuntimeWarning, match="owned by uid"):
        assert cache.cache_dir() is None
    before = sorted(p.name for p in planted.iterdir())
    np.testing.assert_allclose(_run_a_chain(2.0), np.exp(5.0) / 5,
                               rtol=1e-6)
    assert sorted(p.name for p in planted.iterdir()) == before


def test_symlinked_cache_directory_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _fresh(monkeypatch, link)
    with pytest.warns(RuntimeWarning, match="symbolic link"):
        assert cache.cache_dir() != str(link)


def test_kernel_file_removed_before_numba_reads_it(tmp_path, monkeypatch):
    """Another process's clear_cache (or a temp cleaner) between writing a
    kernel file and importing it: Numba finds no file to cache against
    ("no locator"); the kernel compiles in memory instead."""
    _fresh(monkeypatch, tmp_path / "k")
    loader = importlib.machinery.SourceFileLoader
    real = loader.get_code

    def read_then_vanish(self, fullname):
        code = real(self, fullname)
        if fullname.startswith("numgrad_kernel_"):
            shutil.rmtree(tmp_path / "k", ignore_errors=True)
        return code
    monkeypatch.setattr(loader, "get_code", read_then_vanish)
    np.testing.assert_allclose(_run_a_chain(3.0), np.exp(7.0) / 6,
                               rtol=1e-6)


def test_undecodable_kernel_file_is_rewritten(tmp_path):
    assert _run(tmp_path).returncode == 0
    for f in tmp_path.glob("numgrad_kernel_*.py"):
        f.write_bytes(b"\xff\xfe not utf-8 \x80")
    for _ in range(2):
        again = _run(tmp_path)
        assert again.returncode == 0, again.stderr


def test_kernel_names_follow_the_inlined_maths(tmp_path, monkeypatch):
    # Numba's cache only checks a kernel file's own stamp; the maths it
    # inlines (m.floor, m.exp...) lives in other files.  After an upgrade
    # that changes them, the old compiled kernels must not be found.
    for relative in cache._INLINED_SOURCES:
        assert os.path.exists(os.path.join(os.path.dirname(ng.__file__),
                                           relative))
    maths = tmp_path / "kernel_math.py"
    maths.write_text("def floor(x): return x\n")
    monkeypatch.setattr(cache, "_INLINED_SOURCES", (str(maths),))
    cache._inlined_digest.cache_clear()
    before = cache.named_text("def kernel(): pass\n")
    maths.write_text("def floor(x): return x - x % 1\n")
    cache._inlined_digest.cache_clear()
    after = cache.named_text("def kernel(): pass\n")
    cache._inlined_digest.cache_clear()  # the real sources again
    assert before[0] != after[0]
    assert before[1].endswith("def kernel(): pass\n")
