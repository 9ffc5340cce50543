import pytest
import yaml

from deepnet.cli import main

MLP = [{"flatten": {}}, {"dense": {"units": 8, "activation": "relu"}}, {"dense": {"units": 2}}]


@pytest.fixture
def train_cli(tmp_path, capsys):
    """Train a spec with `data` through the CLI in-process: (exit code, stderr)."""

    def run(data: dict, layers=None, **top):
        spec = {"name": "t", "seed": 0, "data": data, "model": {"layers": layers or MLP},
                "train": {"epochs": 1, "batch_size": 16}, **top}
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        code = main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"])
        err = capsys.readouterr().err
        return code, err

    return run
