"""MkDocs hook (mkdocs.yml ``hooks:``): executed tutorials.

A page holding the line ``<!-- run: tutorials/NAME.py -->`` gets that script run (from
docs/, with this checkout's deepbio first on the path) once per build; then

* ``<!-- output -->`` is replaced by what the script printed, as a text block;
* ``<!-- figure: FILE.png -->`` by the picture the script wrote to FILE.png in the
  directory it was given (``sys.argv[1]``), inlined as a data URI, so the page needs no
  generated file in docs/ and the build stays offline.

A script that fails (an exception, or one of its own ``assert`` checks on the numbers
the page states) fails the build with its traceback.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError

RUN = re.compile(r"^<!-- run: (\S+\.py) -->\s*$", re.M)
OUTPUT = re.compile(r"^<!-- output -->\s*$", re.M)
FIGURE = re.compile(r"^<!-- figure: ([\w.-]+\.png) -->\s*$", re.M)

_cache = {}        # script text hash -> (stdout, {figure name: PNG bytes})


def _run(script, root):
    key = hashlib.sha256(script.read_bytes()).hexdigest()
    if key in _cache:
        return _cache[key]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    env["MPLBACKEND"] = "Agg"
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, str(script), out], cwd=root, env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise PluginError(f"tutorial {script} failed (exit {proc.returncode}):\n"
                              f"{proc.stderr[-4000:]}")
        figures = {p.name: p.read_bytes() for p in Path(out).glob("*.png")}
    _cache[key] = (proc.stdout, figures)
    return _cache[key]


def on_page_markdown(markdown, page, config, files):
    m = RUN.search(markdown)
    if m is None:
        return markdown
    docs = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).resolve().parent
    script = (docs / m.group(1)).resolve()
    if not script.is_file():
        raise PluginError(f"{page.file.src_uri}: no tutorial script {m.group(1)}")
    stdout, figures = _run(script, root)
    markdown = RUN.sub("", markdown)
    block = "```text\n" + stdout.rstrip("\n") + "\n```"
    markdown = OUTPUT.sub(lambda _: block, markdown)

    def figure(match):
        name = match.group(1)
        if name not in figures:
            raise PluginError(f"{page.file.src_uri}: {script.name} wrote no {name} "
                              f"(it wrote {sorted(figures)})")
        data = base64.b64encode(figures[name]).decode("ascii")
        return f'<img alt="{name}" src="data:image/png;base64,{data}">'

    return FIGURE.sub(figure, markdown)
