"""The documentation site (mkdocs.yml, docs/): it builds with --strict (running the
executed tutorials, docs/tutorials/*.py, through docs/hooks.py), every public name has
an API entry, and every code snippet a page includes from the sources exists.

The snippet checks parse the pages and the sources here, without mkdocs: a page's
``--8<-- "path:section"`` line includes the lines of ``path`` between the comment
markers ``--8<-- [start:section]`` and ``--8<-- [end:section]`` (pymdownx.snippets), so
the code shown cannot drift from the code run -- but a renamed or deleted marker would
silently empty a tab.  These tests make it fail instead.
"""
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KERNELS = ROOT / "deepbio" / "_kernels"

# a page's include line: --8<-- "path" or --8<-- "path:section" (quoted, alone on its line)
INCLUDE = re.compile(r'^\s*--8<--\s+"([^":]+)(?::([^"]+))?"\s*$')
# a source's marker line: a comment (# or //) holding --8<-- [start:NAME] / [end:NAME]
MARKER = re.compile(r"^\s*(?:#|//)\s*--8<--\s*\[(start|end):([A-Za-z0-9_.-]+)\]\s*$")
# anything that looks like a marker, to catch a malformed one
LOOSE = re.compile(r"--8<--\s*\[")

# the kernel chapters and the kernel families they cover
CHAPTERS = ["rbm", "dense", "conv", "pool", "recurrent", "random"]

# public modules -> their API reference page
API_PAGES = {"deepbio.models": "models", "deepbio.nn": "nn", "deepbio.optim": "optim",
             "deepbio.datasets": "datasets", "deepbio.explain": "explain",
             "deepbio.plot": "plot", "deepbio.interop.anndata": "interop",
             "deepbio.course": "course"}


def _pages():
    return sorted(DOCS.rglob("*.md"))


def _includes():
    """Every (page, line number, path, section) include in the docs."""
    found = []
    for page in _pages():
        for i, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            m = INCLUDE.match(line)
            if m:
                found.append((page.relative_to(ROOT), i, m.group(1), m.group(2)))
    return found


def _sections(path):
    """{section: (start line, end line)} of a source, checking its markers are balanced:
    each name starts once and ends once after it, sections of one name do not nest, and
    no marker is malformed.  Returns (sections, errors)."""
    sections, open_, errors = {}, {}, []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = MARKER.match(line)
        if not m:
            if LOOSE.search(line):
                errors.append(f"{path.relative_to(ROOT)}:{i}: malformed snippet marker "
                              f"{line.strip()!r} (expected '# --8<-- [start:NAME]' or "
                              "'// --8<-- [end:NAME]')")
            continue
        kind, name = m.groups()
        where = f"{path.relative_to(ROOT)}:{i}"
        if kind == "start":
            if name in open_:
                errors.append(f"{where}: section {name!r} starts again before its end")
            else:
                if name in sections:
                    errors.append(f"{where}: section {name!r} appears twice in the file")
                open_[name] = i
        else:
            if name not in open_:
                errors.append(f"{where}: section {name!r} ends without a start")
            else:
                start = open_.pop(name)
                if i == start + 1:
                    errors.append(f"{where}: section {name!r} is empty")
                sections[name] = (start, i)
    for name, start in open_.items():
        errors.append(f"{path.relative_to(ROOT)}:{start}: section {name!r} never ends "
                      f"(no '--8<-- [end:{name}]')")
    return sections, errors


def _marked_sources():
    """The files pages include sections of: the kernels and the tutorial scripts."""
    kernels = [p for p in KERNELS.rglob("*")
               if p.suffix in (".py", ".pyx", ".pxd", ".cu", ".cuh", ".h")
               and "__pycache__" not in p.parts]
    return sorted(kernels + list((DOCS / "tutorials").glob("*.py")))


def test_source_markers_balanced():
    errors = []
    for path in _marked_sources():
        errors += _sections(path)[1]
    assert not errors, "unbalanced snippet markers:\n" + "\n".join(errors)


def test_every_include_has_its_marker():
    includes = _includes()
    assert includes, "no page includes a snippet: the kernel chapters lost their code"
    cache, errors = {}, []
    for page, line, path, section in includes:
        where = f"{page}:{line}"
        src = ROOT / path
        if not src.is_file():
            errors.append(f"{where}: includes {path!r}, which does not exist")
            continue
        if section is None:
            continue
        if src not in cache:
            cache[src] = _sections(src)[0]
        if section not in cache[src]:
            errors.append(f"{where}: includes section {section!r} of {path}, but {path} "
                          f"has no '--8<-- [start:{section}]' ... '[end:{section}]' "
                          "markers (renamed or removed?)")
    assert not errors, "\n".join(errors)


def test_marker_checker_catches_breakage(tmp_path, monkeypatch):
    # the checker itself: a missing end, a doubled start, an end without start,
    # a malformed marker, an empty section are each reported; a good file is clean
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    good = tmp_path / "good.py"
    good.write_text("# --8<-- [start:a]\nx = 1\n# --8<-- [end:a]\n"
                    "// --8<-- [start:b]\ny\n// --8<-- [end:b]\n")
    sections, errors = _sections(good)
    assert sections == {"a": (1, 3), "b": (4, 6)} and errors == []
    cases = {
        "# --8<-- [start:a]\nx\n": "never ends",
        "# --8<-- [start:a]\nx\n# --8<-- [start:a]\n# --8<-- [end:a]\n": "starts again",
        "x\n# --8<-- [end:a]\n": "ends without a start",
        "# --8<-- [begin:a]\nx\n": "malformed",
        "# --8<-- [start:a]\n# --8<-- [end:a]\n": "is empty",
        "# --8<-- [start:a]\nx\n# --8<-- [end:a]\n# --8<-- [start:a]\ny\n# --8<-- [end:a]\n":
            "appears twice",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.py"
        bad.write_text(text)
        errors = _sections(bad)[1]
        assert len(errors) == 1 and message in errors[0], (text, errors)


def test_kernel_chapters_show_every_face():
    # each chapter includes code from the reference and from each compiled twin
    for name in CHAPTERS:
        page = DOCS / "kernels" / f"{name}.md"
        assert page.is_file(), f"missing kernel chapter {page.relative_to(ROOT)}"
        paths = {p for pg, _, p, _ in _includes() if pg == page.relative_to(ROOT)}
        for face in ("deepbio/_kernels/reference.py", "deepbio/_kernels/cpu/",
                     "deepbio/_kernels/cuda/", "deepbio/_kernels/numba/"):
            assert any(p.startswith(face) for p in paths), \
                f"{page.relative_to(ROOT)} includes nothing from {face}"


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_api_reference_lists_every_public_name(module):
    # the API pages list the names one directive each; a name added to a module's
    # __all__ without an entry fails here (mkdocstrings renders only what is listed)
    if module == "deepbio.plot" and importlib.util.find_spec("matplotlib") is None:
        pytest.skip("deepbio.plot needs matplotlib (extra [plot])")
    mod = importlib.import_module(module)
    page = (DOCS / "api" / f"{API_PAGES[module]}.md").read_text(encoding="utf-8")
    listed = set(re.findall(rf"^::: {re.escape(module)}\.(\w+)\s*$", page, re.M))
    missing = [n for n in mod.__all__ if n not in listed]
    assert not missing, f"docs/api/{API_PAGES[module]}.md lacks '::: {module}.NAME' for {missing}"


def test_nav_lists_every_page():
    # mkdocs only warns about (omitted_files) pages left out of the nav; the strict build
    # makes that an error, and this says which page without needing mkdocs
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", text, re.M))
    pages = {str(p.relative_to(DOCS)) for p in _pages()}
    assert pages - nav == set(), f"pages not in mkdocs.yml's nav: {sorted(pages - nav)}"
    assert nav - pages == set(), f"nav entries without a page: {sorted(nav - pages)}"


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or \
            importlib.util.find_spec("mkdocstrings_handlers.python") is None or \
            importlib.util.find_spec("material") is None or \
            importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the site needs mkdocs, mkdocs-material, mkdocstrings[python] and, "
                    "for the tutorials' figures, matplotlib (pip install '.[docs]')")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    # the API reference was rendered from the docstrings, and the kernel chapters
    # hold the included source (not an empty tab)
    api = (site / "api" / "models" / "index.html").read_text(encoding="utf-8")
    assert 'id="deepbio.models.RBM.fit"' in api
    rbm = (site / "kernels" / "rbm" / "index.html").read_text(encoding="utf-8")
    assert "cd_statistics" in rbm and "tabbed-set" in rbm
    # the tutorials ran: their printed output and their figures are in the pages
    for name, printed in (("rbm_digits", "mean pseudo-likelihood"),
                          ("cnn_motif", "held-out accuracy")):
        page = (site / "tutorials" / name / "index.html").read_text(encoding="utf-8")
        assert printed in page and page.count("data:image/png;base64,") == 2, name
