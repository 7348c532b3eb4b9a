"""Fuzz ``deepbio.datasets.read_fasta``: any bytes, as a binary file (gzip is recognised
by its content) and as text lines.  Documented: ValueError."""
import io

import deepbio.datasets as ds

from ._common import run

EXPECTED = (ValueError,)


def TestOneInput(data):
    upper = bool(data[:1]) and data[0] & 1
    for source in (lambda: io.BytesIO(data),
                   lambda: io.StringIO(data.decode("latin-1"))):
        try:
            records = ds.read_fasta(source(), upper=upper)
        except EXPECTED:
            continue
        for r in records:                           # what a record promises
            assert isinstance(r.id, str) and r.id and isinstance(r.sequence, str)
            assert not any(c.isspace() for c in r.sequence)


if __name__ == "__main__":
    run(TestOneInput)
