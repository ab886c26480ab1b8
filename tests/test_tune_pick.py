"""The settings pick of scripts/tune_moonshine.py, on made-up grid results."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

from script_helpers import script_module


def result(accuracy: float, fa_per_hour: float) -> dict:
    return {"accuracy": {"clean": accuracy, "20": accuracy, "10": None}, "fa_per_hour": fa_per_hour}


def test_best_accuracy_among_settings_under_the_false_accept_target():
    tune = script_module("tune_moonshine")
    grid = [("loose", result(0.9, 5.0)), ("a", result(0.7, 0.0)), ("b", result(0.8, 0.4)), ("c", result(0.8, 0.0))]
    assert tune.pick(grid)[0] == "b"  # the first of the two best under the target


def test_otherwise_fewest_false_accepts_within_the_slack():
    tune = script_module("tune_moonshine")
    slack = tune.SLACK / 100
    grid = [("best", result(0.90, 40.0)), ("close", result(0.90 - slack / 2, 12.0)),
            ("closer_fa", result(0.90 - slack / 2 - 0.001, 12.0)), ("far", result(0.90 - 2 * slack, 1.0))]
    assert tune.pick(grid)[0] == "close"  # "far" gives up too much; ties go to accuracy


def test_it_refuses_to_tune_on_a_held_out_split(tmp_path):
    script = Path(__file__).resolve().parent.parent / "scripts" / "tune_moonshine.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--splits", "tuning,heldout-neural"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "heldout-neural is not a tuning split" in run.stderr


def test_records_of_other_files_or_damaged_are_refused(tmp_path):
    # Kept records are scored again only for the very files they were streamed from.
    script = Path(__file__).resolve().parent.parent / "scripts" / "tune_moonshine.py"
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"path": "tuning/a.wav", "split": "tuning"}]}))
    records = tmp_path / "records.pkl"
    records.write_bytes(pickle.dumps({"files": ["tuning/b.wav"], "records": [[]]}))
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--records", str(records)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "holds records of other files" in run.stderr
    records.write_bytes(b"not a pickle")
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--records", str(records)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "is not a records file" in run.stderr and "Traceback" not in run.stderr
    # The right files, but the head scores of another confirming head (or of none: session 25's).
    records.write_bytes(pickle.dumps({"files": ["tuning/a.wav"], "records": [[]], "confirm_head": "0" * 64}))
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--records", str(records)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "another confirming head's scores" in run.stderr
