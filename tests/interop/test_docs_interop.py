"""docs/interop.md runs: its ```python blocks, executed in order in one namespace, so
the walk-through cannot drift from the code."""
import pathlib
import re

import pytest

pytest.importorskip("anndata")
pytest.importorskip("pandas")

import deepbio  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "interop.md"


def _blocks(text):
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_page_has_the_walk_through():
    blocks = _blocks(DOC.read_text())
    assert len(blocks) >= 5
    code = "\n".join(blocks)
    for step in ("dad.fit(", "dad.embed(", "obsm[\"X_deepbio\"]", "rank_features(",
                 "dad.annotate("):
        assert step in code, step


def test_interop_md_code_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs_interop"}
    with deepbio.use_backend("numpy"):
        for i, block in enumerate(_blocks(DOC.read_text())):
            exec(compile(block, f"docs/interop.md block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "(200, 32)" in out and "missing label(s)" in out
