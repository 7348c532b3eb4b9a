"""Motif objects, compare_motifs on known alignments, MEME / JASPAR round trips and
atomic writes."""
import os

import numpy as np
import pytest

from deepbio.explain import (FeatureRanking, Motif, compare_motifs, read_jaspar, read_meme,
                             write_jaspar, write_meme)

PWM = np.array([[.85, .05, .05, .05], [.05, .05, .85, .05], [.05, .85, .05, .05],
                [.05, .05, .05, .85], [.7, .1, .1, .1], [.25, .25, .25, .25]])


def _motifs():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 30, size=(7, 4)).astype(float)
    counts[0] = [40, 0, 0, 0]
    pwm = (counts + 0.25) / (counts.sum(axis=1, keepdims=True) + 1)
    return [Motif("filter0", PWM, PWM * 20, 20, filter=0),
            Motif("filter1", pwm, counts, int(counts.sum(axis=1).max()), filter=1)]


def test_motif_properties():
    mo = Motif("m", PWM, n_sites=20)
    assert mo.length == 6 and mo.consensus == "AGCTAA"
    p = PWM[0]
    np.testing.assert_allclose(mo.column_ic[0], 2 + (p * np.log2(p)).sum())
    assert mo.column_ic[-1] == pytest.approx(0.0, abs=1e-12)
    assert mo.information_content == pytest.approx(mo.column_ic.sum())
    rc = mo.reverse_complement()
    np.testing.assert_allclose(rc.pwm, PWM[::-1, ::-1], atol=1e-15)
    assert rc.consensus == "ATAGCT"        # a uniform column reads as its first letter


def test_motif_validation():
    with pytest.raises(ValueError, match="rows must sum to 1"):
        Motif("m", PWM * 2)
    with pytest.raises(ValueError, match=r"shape \(length, 4\)"):
        Motif("m", PWM[:, :3])
    with pytest.raises(ValueError, match="without whitespace"):
        Motif("two words", PWM)
    with pytest.raises(ValueError, match="alphabet must be one of"):
        Motif("m", PWM, alphabet="ABCD")
    with pytest.raises(ValueError, match="non-negative"):
        Motif("m", np.array([[1.5, -0.5, 0, 0]]))


def test_compare_motifs_finds_offset_and_strand():
    rng = np.random.default_rng(1)
    flank = rng.dirichlet(np.ones(4), size=(3,))
    longer = np.vstack([flank[:2], PWM, flank[2:]])          # PWM at columns 2..7
    assert compare_motifs(PWM, PWM) == (pytest.approx(1.0), 0, "+")
    r, off, strand = compare_motifs(longer, PWM)
    assert (r, off, strand) == (pytest.approx(1.0), 2, "+")
    r, off, strand = compare_motifs(longer, Motif("m", PWM).reverse_complement())
    assert (r, off, strand) == (pytest.approx(1.0), 2, "-")
    r_self, _, _ = compare_motifs(Motif("a", longer), Motif("b", PWM))
    assert r_self == pytest.approx(1.0)
    # an unrelated motif correlates poorly
    other = rng.dirichlet(np.ones(4) * 0.3, size=(6,))
    assert compare_motifs(other, PWM)[0] < 0.8
    with pytest.raises(ValueError, match="min_overlap"):
        compare_motifs(PWM, PWM, min_overlap=7)
    with pytest.raises(ValueError, match="different alphabets"):
        compare_motifs(PWM, np.full((3, 20), 0.05))


def test_meme_round_trip(tmp_path):
    motifs = _motifs()
    path = tmp_path / "filters.meme"
    assert write_meme(motifs, path) == path
    text = path.read_text()
    assert text.startswith("MEME version 4\n\nALPHABET= ACGT\n")
    assert "MOTIF filter0 AGCTAA\nletter-probability matrix: alength= 4 w= 6 nsites= 20" in text
    back = read_meme(path)
    assert [m.name for m in back] == ["filter0", "filter1"]
    for a, b in zip(motifs, back):
        # six decimals per entry, then each row renormalised: 4 roundings of 5e-7
        np.testing.assert_allclose(b.pwm, a.pwm, atol=4e-6)
        assert b.n_sites == a.n_sites


def test_meme_protein_has_no_strands(tmp_path):
    pwm = np.random.default_rng(2).dirichlet(np.ones(20), size=(4,))
    prot = Motif("p", pwm, alphabet="ACDEFGHIKLMNPQRSTVWY")
    write_meme([prot], tmp_path / "p.meme")
    text = (tmp_path / "p.meme").read_text()
    assert "strands" not in text and "ALPHABET= ACDEFGHIKLMNPQRSTVWY" in text
    np.testing.assert_allclose(read_meme(tmp_path / "p.meme")[0].pwm, pwm, atol=2e-5)
    with pytest.raises(ValueError, match="JASPAR files hold DNA motifs"):
        write_jaspar([prot], tmp_path / "p.jaspar")


def test_jaspar_round_trip(tmp_path):
    motifs = _motifs()
    path = tmp_path / "filters.jaspar"
    write_jaspar(motifs, path)
    lines = path.read_text().splitlines()
    assert lines[0] == ">filter0 AGCTAA" and lines[1].startswith("A  [")
    back = read_jaspar(path)
    assert [m.name for m in back] == ["filter0", "filter1"]
    np.testing.assert_array_equal(back[1].counts, motifs[1].counts)   # whole counts
    np.testing.assert_allclose(back[0].counts, motifs[0].counts, atol=1e-4)
    np.testing.assert_allclose(back[0].pwm, PWM, atol=1e-5)


def test_bad_files_name_the_line(tmp_path):
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 2\n"
                   "0.25 0.25 0.25 0.25\n0.1 oops 0.3 0.3\n")
    with pytest.raises(ValueError, match="line 6: expected row 2 of 2"):
        read_meme(bad)
    badj = tmp_path / "bad.jaspar"
    badj.write_text(">m\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\n")
    with pytest.raises(ValueError, match="line 5: expected the row"):
        read_jaspar(badj)
    with pytest.raises(ValueError, match="at least one Motif"):
        write_meme([], tmp_path / "x.meme")
    with pytest.raises(TypeError, match=r"motifs\[0\] must be a deepbio.explain.Motif"):
        write_meme([PWM], tmp_path / "x.meme")


@pytest.mark.parametrize("write", [write_meme, write_jaspar, "ranking"])
def test_writes_are_atomic(tmp_path, monkeypatch, write):
    """A failure before the rename leaves the old file whole and no temporary file."""
    path = tmp_path / "out.txt"
    path.write_text("old contents\n")
    os.chmod(path, 0o640)

    def do():
        if write == "ranking":
            FeatureRanking(["g0", "g1"], [0], [[0.5, 1.0]], [3], "gradient").write_tsv(path)
        else:
            write(_motifs(), path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        do()
    assert path.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    monkeypatch.undo()
    do()
    assert path.read_text() != "old contents\n"
    assert os.stat(path).st_mode & 0o777 == 0o640           # permissions kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_meme(_motifs(), tmp_path / "missing" / "x.meme")


def test_ranking_tsv(tmp_path):
    r = FeatureRanking(["TP53", "BRCA1", "MYC"], ["a", "b"],
                       [[0.1, 0.3, 0.2], [0.6, 0.0, 0.4]], [4, 2], "gradient")
    np.testing.assert_array_equal(r.order, [[1, 2, 0], [0, 2, 1]])
    assert r.top(2, "b") == [("TP53", 0.6), ("MYC", 0.4)]
    assert r.top(1) == [("TP53", pytest.approx(0.35))]
    r.write_tsv(tmp_path / "genes.tsv")
    rows = [ln.split("\t") for ln in (tmp_path / "genes.tsv").read_text().splitlines()]
    assert rows[0] == ["class", "rank", "name", "index", "score"]
    assert rows[1] == ["a", "1", "BRCA1", "1", "0.3"] and len(rows) == 7
    with pytest.raises(ValueError, match="cls must be one of"):
        r.top(2, "c")
    with pytest.raises(ValueError, match=r"k must be a positive int"):
        r.top(0)
    with pytest.raises(ValueError, match=r"scores must have shape \(n_classes, n_features\)"):
        FeatureRanking(["a"], [0, 1], [[1.0]], [1, 1], "gradient")
    with pytest.raises(ValueError, match="one count per class"):
        FeatureRanking(["a"], [0], [[1.0]], [1, 1], "gradient")
