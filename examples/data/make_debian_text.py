"""Builds examples/data/debian_sections.csv.gz: real human writing with real labels, made
here without a download. The descriptions of Debian's packages (what `apt-cache
dumpavail` prints after `apt-get update`: about 63,000 packages of Debian 12 "bookworm"
main) labelled by their archive section.

The long descriptions live in the archive's Translation-en files (apt-get update fetches
them with `-o Acquire::Languages=en`), matched to each package by its Description-md5.
The classes are the 18 largest sections that are not the packaging of one programming
language's libraries (python, perl, haskell, rust, golang, javascript, java, ruby, gnu-r,
php, ocaml, lisp, cli-mono), of shared libraries (libs, libdevel, oldlibs, introspection),
of debug symbols, translations or package sets. A description is its short line and its
long text (paragraph marks removed); descriptions shared by several packages are kept
once. At most ROWS_PER_CLASS rows per section, drawn with a fixed seed, so the file is
the same for the same package lists. It is stored compressed in the repository, so every
run uses the same data:

    apt-get update -o Acquire::Languages=en && python examples/data/make_debian_text.py

Licence: Debian package metadata. The descriptions are written by the packages'
maintainers and authors and published by Debian in its archive's Packages files.
"""

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

ROWS_PER_CLASS = 1200
CLASSES = 18
EXCLUDED = {"python", "perl", "haskell", "rust", "golang", "javascript", "java", "ruby",
            "gnu-r", "php", "ocaml", "lisp", "cli-mono", "libs", "libdevel", "oldlibs",
            "introspection", "debug", "localization", "metapackages", "tasks"}


def stanzas(text: str):
    """The fields of each stanza of a Debian control file (continuation lines joined,
    paragraph marks ' .' removed)."""
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith(" ") and key is not None:
                part = line.strip()
                fields[key] += " " + ("" if part == "." else part)
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        yield fields


def long_descriptions() -> dict[str, str]:
    """Description-md5 -> the full English description, from the Translation-en files."""
    out = {}
    for path in sorted(Path("/var/lib/apt/lists").glob("*_i18n_Translation-en*")):
        text = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)],
                              capture_output=True, text=True, check=True).stdout
        for fields in stanzas(text):
            if "Description-md5" in fields and "Description-en" in fields:
                out[fields["Description-md5"]] = fields["Description-en"]
    if not out:
        raise SystemExit("no Translation-en file: run apt-get update -o Acquire::Languages=en")
    return out


def packages(text: str, long: dict[str, str]):
    """(package, section, description) of each package of `apt-cache dumpavail`."""
    for fields in stanzas(text):
        if {"Package", "Section", "Description"} <= fields.keys():
            section = fields["Section"].rsplit("/", 1)[-1]
            description = long.get(fields.get("Description-md5", ""), fields["Description"])
            yield fields["Package"], section, " ".join(description.split())


def make(seed: int = 0) -> pd.DataFrame:
    dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                          check=True).stdout
    frame = pd.DataFrame(packages(dump, long_descriptions()),
                         columns=["package", "section", "text"])
    frame = frame.drop_duplicates("text").sort_values("package", kind="stable")
    counts = frame.section.value_counts()
    kept = [s for s in counts.index if s not in EXCLUDED][:CLASSES]
    rng = np.random.default_rng(seed)
    parts = []
    for section in sorted(kept):
        rows = frame[frame.section == section]
        take = rng.permutation(len(rows))[:ROWS_PER_CLASS]
        parts.append(rows.iloc[np.sort(take)])
    return pd.concat(parts).reset_index(drop=True)[["text", "section", "package"]]


if __name__ == "__main__":
    out = Path(__file__).with_name("debian_sections.csv.gz")
    frame = make()
    data = frame.to_csv(index=False).encode("utf-8")
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))  # the same bytes each time
    print(f"wrote {out}: {len(frame)} descriptions in {frame.section.nunique()} sections "
          f"({', '.join(sorted(frame.section.unique()))})")
