"""Fuzz the command-line parser: ``deepbio.cli.main`` with fuzzed arguments and an
optional fuzzed ``--config`` TOML file, the sub-commands' actions replaced by stubs that
only parse what the real ones parse first (``--param NAME=JSON``), so nothing trains.

Documented: an exit status (0, or 1 with a message for a bad config / parameter) or
argparse's ``SystemExit`` (2 for a usage error, 0 for ``--help``)."""
import contextlib
import io

import deepbio.cli as cli

from ._common import Bytes, run, scratch

EXPECTED = (SystemExit,)
WORDS = ("train", "predict", "evaluate", "info", "explain", "demo", "bench", "--model",
         "--data", "--out", "--target", "--labels", "--scale", "standard", "minmax", "none",
         "--param", "hidden_layer_sizes=[3]", "max_iter=2", "x=", "=1", "--test-size",
         "0.5", "-1", "nan", "--header", "auto", "yes", "no", "--seed", "--backend",
         "numpy", "--config", "--proba", "--help", "-h", "--", "--index-col", "--drop",
         "--quiet", "--plots", "--genes-in-rows", "MLPClassifier", "RBM", "data.csv", "",
         "--version", "--repeats", "3", "1e999", "--label-key", "--layer", "--method")
COMMANDS = ("demo", "train", "info", "predict", "evaluate", "explain", "bench")


def _stub(args, out):
    cli._parse_params(getattr(args, "param", None))
    return 0


def _argv(p):
    argv = []
    for _ in range(p.int(0, 12)):
        if p.int(0, 3):
            argv.append(p.pick(WORDS))
        else:
            n = p.int(0, 12)
            argv.append(bytes(p.byte() for _ in range(n)).decode("utf-8", "replace")
                        .replace("\0", ""))
    return argv


def TestOneInput(data):
    p = Bytes(data)
    argv = _argv(p)
    if p.bool():                              # a --config file: the rest of the input
        path = scratch("config.toml")
        with open(path, "wb") as f:
            f.write(p.rest())
        argv = (["train"] if p.bool() or not argv else argv[:1]) + argv[1:] + \
            ["--config", path]
    saved = {c: getattr(cli, f"cmd_{c}") for c in COMMANDS}
    sink = io.StringIO()
    try:
        for c in COMMANDS:
            setattr(cli, f"cmd_{c}", _stub)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            status = cli.main(argv, out=sink)
    except EXPECTED as e:
        assert e.code in (0, 2, None), e.code
        return
    finally:
        for c, f in saved.items():
            setattr(cli, f"cmd_{c}", f)
    assert status in (0, 1), status


if __name__ == "__main__":
    run(TestOneInput)
