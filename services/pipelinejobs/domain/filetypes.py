"""File type labels inferred from a path's extension, for the file records the indexer writes.

Only the name is read, never the content: indexing lists thousands of files and must not open
them. A compressed file takes the label of what it compresses when that is known
(``reads.fastq.gz`` is FASTQ, ``outputs.tar.gz`` is TARBALL) and the compression's label
otherwise (``blob.gz`` is GZIP).
"""

from __future__ import annotations

import posixpath

from pipelinejobs.domain.checks import refused

UNKNOWN = "UNKNOWN"

_LABELS: dict[str, tuple[str, ...]] = {
    "CSV": ("csv",),
    "TSV": ("tsv", "tab"),
    "JSON": ("json", "jsonld", "geojson"),
    "JSONL": ("jsonl", "ndjson"),
    "TEXT": ("txt", "text", "log", "out", "err"),
    "XML": ("xml",),
    "YAML": ("yaml", "yml"),
    "TOML": ("toml",),
    "INI": ("ini", "cfg", "conf"),
    "MARKDOWN": ("md", "markdown"),
    "RESTRUCTUREDTEXT": ("rst",),
    "HTML": ("html", "htm"),
    "PDF": ("pdf",),
    "PNG": ("png",),
    "JPEG": ("jpg", "jpeg"),
    "GIF": ("gif",),
    "TIFF": ("tif", "tiff"),
    "SVG": ("svg",),
    "BMP": ("bmp",),
    "FASTQ": ("fastq", "fq"),
    "FASTA": ("fasta", "fa", "fna", "faa", "ffn"),
    "BAM": ("bam",),
    "BAI": ("bai",),
    "SAM": ("sam",),
    "CRAM": ("cram",),
    "VCF": ("vcf",),
    "BCF": ("bcf",),
    "BED": ("bed",),
    "GFF": ("gff", "gff3"),
    "GTF": ("gtf",),
    "GENBANK": ("gb", "gbk", "genbank"),
    "SBOL": ("sbol",),
    "FCS": ("fcs",),
    "MZML": ("mzml",),
    "HDF5": ("h5", "hdf5", "hdf", "he5"),
    "NETCDF": ("nc", "netcdf"),
    "PARQUET": ("parquet",),
    "NUMPY": ("npy", "npz"),
    "PICKLE": ("pkl", "pickle"),
    "EXCEL": ("xls", "xlsx"),
    "NOTEBOOK": ("ipynb",),
    "PYTHON": ("py",),
    "R": ("r", "rmd", "rds", "rdata"),
    "SHELL": ("sh", "bash"),
    "MATLAB": ("m", "mat"),
    "ZIP": ("zip",),
    "TARBALL": ("tar", "tgz", "tbz", "tbz2", "txz"),
}
_COMPRESSIONS: dict[str, str] = {
    "gz": "GZIP",
    "bz2": "BZIP2",
    "xz": "XZ",
    "zst": "ZSTD",
}
_BY_EXTENSION: dict[str, str] = {
    extension: label for label, extensions in _LABELS.items() for extension in extensions
}

FILETYPE_LABELS: frozenset[str] = frozenset({*_LABELS, *_COMPRESSIONS.values(), UNKNOWN})
"""Every label :func:`infer_filetype` can return."""


def infer_filetype(path: str) -> str:
    """The type label of ``path`` from its extension, ignoring case; ``UNKNOWN`` if none fits.

    A leading dot (a hidden file such as ``.bashrc``) is not an extension.
    """
    if not isinstance(path, str):
        raise refused("path", path, "a file path as a str, such as /products/v2/.../reads.fastq")
    extensions = posixpath.basename(path).lower().lstrip(".").split(".")[1:]
    if not extensions:
        return UNKNOWN
    last = extensions[-1]
    if last in _COMPRESSIONS:
        inner = extensions[-2] if len(extensions) > 1 else ""
        return _BY_EXTENSION.get(inner, _COMPRESSIONS[last])
    return _BY_EXTENSION.get(last, UNKNOWN)
