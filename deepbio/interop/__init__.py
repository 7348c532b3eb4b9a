"""Layer 6: deepbio where the data already lives.

=====================  ===============================================================
module                 contents
=====================  ===============================================================
``anndata``            :func:`~deepbio.interop.anndata.fit`,
                       :func:`~deepbio.interop.anndata.embed`,
                       :func:`~deepbio.interop.anndata.annotate`: fit on an AnnData,
                       features to ``obsm``, predictions to ``obs``, settings to ``uns``
                       (scanpy's conventions; extra ``[anndata]``)
=====================  ===============================================================

``import deepbio.interop`` imports no third-party package; ``deepbio.interop.anndata``
needs ``anndata`` only when its functions are called (``pip install "deepbio[anndata]"``).
See ``docs/interop.md``.
"""
from . import anndata

__all__ = ["anndata"]
