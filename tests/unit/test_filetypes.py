"""File type labels from extensions."""

from __future__ import annotations

import pytest
from pipelinejobs.domain.filetypes import FILETYPE_LABELS, UNKNOWN, infer_filetype


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/products/v2/a/b/c/results.csv", "CSV"),
        ("/p/plate.TSV", "TSV"),
        ("/p/plot.png", "PNG"),
        ("/p/photo.JPG", "JPEG"),
        ("/p/photo.jpeg", "JPEG"),
        ("/p/meta.json", "JSON"),
        ("/p/notes.txt", "TEXT"),
        ("/p/reads.fastq", "FASTQ"),
        ("/p/reads.fq", "FASTQ"),
        ("/p/aln.bam", "BAM"),
        ("/p/aln.sam", "SAM"),
        ("/p/calls.vcf", "VCF"),
        ("/p/sample.uw_biofab.141715.fcs", "FCS"),
        ("/p/design.xml", "XML"),
        ("/p/config.yml", "YAML"),
        ("/p/config.yaml", "YAML"),
        ("/p/matrix.h5", "HDF5"),
        ("/p/report.pdf", "PDF"),
        ("/p/bundle.zip", "ZIP"),
        ("/p/README.md", "MARKDOWN"),
        ("/p/index.html", "HTML"),
        ("/p/analysis.ipynb", "NOTEBOOK"),
        ("/p/run.py", "PYTHON"),
        ("/p/plot.R", "R"),
        ("/p/genome.fasta", "FASTA"),
    ],
)
def test_single_extensions(path: str, label: str) -> None:
    assert infer_filetype(path) == label


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/p/reads.fastq.gz", "FASTQ"),
        ("/p/READS.FQ.GZ", "FASTQ"),
        ("/p/outputs.tar.gz", "TARBALL"),
        ("/p/outputs.tar.bz2", "TARBALL"),
        ("/p/outputs.tar.xz", "TARBALL"),
        ("/p/outputs.tgz", "TARBALL"),
        ("/p/outputs.tar", "TARBALL"),
        ("/p/calls.vcf.gz", "VCF"),
        ("/p/table.csv.gz", "CSV"),
        ("/p/blob.gz", "GZIP"),
        ("/p/blob.unknown.gz", "GZIP"),
        ("/p/blob.bz2", "BZIP2"),
    ],
)
def test_compressed_files_take_the_label_of_what_they_compress(path: str, label: str) -> None:
    assert infer_filetype(path) == label


@pytest.mark.parametrize(
    "path",
    [
        "/p/Makefile",
        "/p/.bashrc",
        "/p/.gz",
        "/p/data.weird",
        "/p/dir.csv/",
        "/p/trailing.",
        "",
    ],
)
def test_anything_else_is_unknown(path: str) -> None:
    assert infer_filetype(path) == UNKNOWN


def test_only_the_base_name_counts() -> None:
    assert infer_filetype("/p/results.csv/readme") == UNKNOWN
    assert infer_filetype("/p.json/v2/image.png") == "PNG"


def test_every_label_is_listed() -> None:
    labels = {infer_filetype(f"/p/x.{ext}") for ext in ("csv", "gz", "tar.gz", "nope")}
    assert labels <= FILETYPE_LABELS
