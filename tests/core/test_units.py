"""deepnet.core.units.parse_size: kB..TB are powers of 1000, KiB..TiB of 1024."""

import pytest

from deepnet.core.errors import DeepnetError
from deepnet.core.units import parse_size


@pytest.mark.parametrize("text, size", [
    ("1000000", 1_000_000),
    ("1", 1),
    ("12B", 12),
    ("8GB", 8 * 10**9),
    ("8gb", 8 * 10**9),
    ("2 kB", 2000),
    ("  3MB ", 3 * 10**6),
    ("1TB", 10**12),
    ("512MiB", 512 * 2**20),
    ("1.5GiB", 3 * 2**29),
    ("1.5gib", 3 * 2**29),
    (".5KiB", 512),
    ("2.KiB", 2048),
    ("1TiB", 2**40),
    ("0.0015kB", 1),  # 1.5 bytes: whole bytes, rounded down
    (4096, 4096),  # a number from YAML
])
def test_sizes(text, size):
    assert parse_size(text) == size
    assert isinstance(parse_size(text), int)


@pytest.mark.parametrize("text", ["", "GB", "8 XB", "8GiBs", "-1GB", "1e9", "1,000", "8 G B",
                                  "eight GB", "1.2.3MB"])
def test_not_understood(text):
    with pytest.raises(DeepnetError) as e:
        parse_size(text)
    msg = str(e.value)
    assert repr(text) in msg  # what was received
    assert "8GB" in msg and "512MiB" in msg and "powers of 1024" in msg  # what is expected


@pytest.mark.parametrize("text", ["0", "0GB", "0.4", "0.0001kB"])
def test_below_one_byte(text):
    with pytest.raises(DeepnetError, match=f"at least 1 byte; got {text!r}"):
        parse_size(text)
