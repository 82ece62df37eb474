"""The binding itself: its stub, the façade, zero-copy inputs and outputs, and the released GIL."""

import ast
import importlib.metadata
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import facev3
from facev3 import _native, native
from tests.support.native import ticks_during

STUB = Path(native.__file__).parent / "_native.pyi"  # beside the façade, also in an editable install


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text())


def test_stub_declares_exactly_the_public_names_of_the_module():
    declared = {
        node.name if hasattr(node, "name") else node.target.id
        for node in stub_tree().body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AnnAssign))
    }
    public = {name for name in dir(_native) if not name.startswith("_")}
    assert declared == public


def compiled_signature(function) -> ast.arguments:
    """pybind11 writes the signature as the first docstring line; parse it as a def."""
    first_line = function.__doc__.splitlines()[0]
    return ast.parse(f"def {first_line}: pass").body[0].args


def parameters(args: ast.arguments) -> tuple[list[str], list[str], list]:
    defaults = [ast.literal_eval(d) for d in args.defaults] + [
        None if d is None else ast.literal_eval(d) for d in args.kw_defaults
    ]
    return [a.arg for a in args.posonlyargs + args.args], [a.arg for a in args.kwonlyargs], defaults


def test_stub_signatures_match_the_compiled_signatures():
    functions = [node for node in stub_tree().body if isinstance(node, ast.FunctionDef)]
    assert len(functions) == 9
    for node in functions:
        stub_positional, stub_keyword, stub_defaults = parameters(node.args)
        positional, keyword, defaults = parameters(compiled_signature(getattr(_native, node.name)))
        assert (stub_positional, stub_keyword) == (positional, keyword), node.name
        assert stub_defaults == pytest.approx(defaults), node.name


def test_facade_reexports_the_whole_module():
    assert sorted(native.__all__) == sorted(n for n in dir(_native) if not n.startswith("_"))
    assert all(getattr(native, name) is getattr(_native, name) for name in native.__all__)


def test_the_version_is_the_installed_distributions():
    assert facev3.__version__ == importlib.metadata.version("facev3") != "0+unknown"


def test_outputs_are_written_in_place():
    rng = np.random.default_rng(0)
    candidates = rng.standard_normal((100, 64)).astype(np.float32)
    out = np.empty(100, np.float32)
    assert np.shares_memory(_native.cosine_scores(candidates[0], candidates, out=out), out)


def native_allocation_peak(call) -> int:
    """Peak bytes allocated through numpy/Python while `call` runs (numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_large_inputs_are_not_copied():
    wide = np.ones((20_000, 1024), np.float32)  # 80 MB; a strided half of it is 40 MB
    candidates = wide[:, :512]
    query = np.ones(512, np.float32)
    out = np.empty(20_000, np.float32)
    copied = native_allocation_peak(lambda: np.ascontiguousarray(candidates))
    assert copied > 40_000_000, "tracemalloc must see numpy copies for this check to mean anything"
    assert native_allocation_peak(lambda: _native.cosine_scores(query, candidates, out=out)) < 100_000

    image = np.zeros((2000, 3000, 3), np.uint8)[:, 500:2500]  # a strided 12 MB view
    landmarks = np.tile(_native.ARCFACE_TEMPLATE * 3 + 100, (4, 1, 1)).astype(np.float32)
    crops = np.empty((4, 112, 112, 3), np.uint8)
    assert native_allocation_peak(lambda: _native.align_faces(image, landmarks, out=crops)) < 100_000


def test_the_gil_is_released_during_native_work():
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((256, 512)).astype(np.float32)
    candidates = rng.standard_normal((20_000, 512)).astype(np.float32)  # ~2.6 G multiply-adds
    assert ticks_during(lambda: _native.cosine_scores(queries, candidates)) >= 20
