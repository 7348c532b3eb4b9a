"""atheris fuzz harnesses (issue #16 item 3); docs/reliability.md.

Each ``fuzz_<name>.py`` defines ``TestOneInput(data: bytes)``, which feeds ``data`` to one
public entry point and lets through only the exceptions that entry point documents
(``EXPECTED``): anything else propagates and is a finding (a crash or a hang is one too).
``corpus/<name>/`` holds each harness's committed seed corpus (``make_corpus.py`` writes
it).  Run one harness with atheris: ``python -m tests.fuzz load -runs=10000 DIR``;
``bench/fuzz.py`` runs them all; ``tests/reliability/test_fuzz.py`` runs each briefly.
"""
