"""bench/compare.py on two hand-written ``bench/kernels.py --json`` files."""
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "bench_compare", os.path.join(HERE, os.pardir, "bench", "compare.py"))
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def _write(path, results, machine="test CPU", threads=2):
    path.write_text(json.dumps(dict(machine=machine, threads=threads, repeat=50,
                                    results=results)))
    return str(path)


def _case(name, cython, numpy=100.0):
    return dict(family="f", name=name, numpy=numpy, cython=cython, torch=float("nan"),
                blas=float("nan"))


@pytest.fixture
def runs(tmp_path):
    old = _write(tmp_path / "old.json", [_case("dense", 100.0), _case("rbm", 200.0),
                                         _case("gone", 10.0)])
    new = _write(tmp_path / "new.json", [_case("dense", 109.0), _case("rbm", 250.0),
                                         _case("added", 5.0)])
    return old, new


def test_flags_only_the_kernel_over_the_threshold(runs, capsys):
    old, new = runs
    assert compare.main([old, new]) == 1
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.split()
             and ln.split()[0] in ("dense", "rbm")}
    assert "1.090" in lines["dense"] and "SLOWER" not in lines["dense"]   # 9 %: fine
    assert "1.250" in lines["rbm"] and "SLOWER" in lines["rbm"]          # 25 %: flagged
    assert "only in OLD: gone" in out and "only in NEW: added" in out
    assert "1 kernel(s) more than 10% slower: rbm" in out


def test_threshold_option(runs, capsys):
    old, new = runs
    assert compare.main([old, new, "--threshold", "0.3"]) == 0
    assert "no kernel more than 30% slower (2 compared)" in capsys.readouterr().out
    assert compare.main([old, new, "--threshold", "0.05"]) == 1
    assert "2 kernel(s)" in capsys.readouterr().out


def test_faster_and_missing_times_are_not_flagged(tmp_path):
    old = _write(tmp_path / "o.json", [_case("a", 100.0), _case("b", float("nan"))])
    new = _write(tmp_path / "n.json", [_case("a", 50.0), _case("b", 500.0)])
    rows = compare.compare(compare.load(old)[1], compare.load(new)[1])
    assert rows[0][:4] == ("a", 100.0, 50.0, 0.5) and not rows[0][4]
    assert rows[1][0] == "b" and not rows[1][4]
    assert compare.main([old, new]) == 0


def test_other_column_and_machine_warning(tmp_path, capsys):
    old = _write(tmp_path / "o.json", [_case("a", 100.0, numpy=100.0)])
    new = _write(tmp_path / "n.json", [_case("a", 100.0, numpy=150.0)], threads=4)
    assert compare.main([old, new]) == 0
    assert compare.main([old, new, "--column", "numpy"]) == 1
    assert "differ in threads" in capsys.readouterr().out


def test_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no": "results"}))
    good = _write(tmp_path / "g.json", [_case("a", 1.0)])
    assert compare.main([str(bad), good]) == 2
    assert "not a bench/kernels.py --json file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main([good, good, "--threshold", "-1"])
