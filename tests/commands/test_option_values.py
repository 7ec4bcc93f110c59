"""Numeric options out of range stop each command before any work, naming the option (no traceback)."""

from __future__ import annotations

import argparse

import pytest

from segdesk import cli
from segdesk.commands.arg_types import number, odd_or_zero, whole

#: (command line, the option the error names). Each of these once crashed, clamped or ran anyway:
#: --batch-size 0 divided by zero, --threads -2 and --seed -1 raised from torch and numpy,
#: --val-fraction -0.1 validated on the training images and made that model current, --minutes -1
#: trained 300 steps and blamed "the -1-minute cap", --threshold 2 proposed nothing, --smooth 2 raised.
BAD = [
    (["train", "DIR", "--minutes", "-1"], "--minutes"),
    (["train", "DIR", "--minutes", "0"], "--minutes"),
    (["train", "DIR", "--minutes", "nan"], "--minutes"),
    (["train", "DIR", "--threads", "-2"], "--threads"),
    (["train", "DIR", "--threads", "0"], "--threads"),
    (["train", "DIR", "--seed", "-1"], "--seed"),
    (["train", "DIR", "--batch-size", "0"], "--batch-size"),
    (["train", "DIR", "--patch-size", "8"], "--patch-size"),
    (["train", "DIR", "--val-fraction", "-0.1"], "--val-fraction"),
    (["train", "DIR", "--val-fraction", "1"], "--val-fraction"),
    (["train", "DIR", "--epochs", "0"], "--epochs"),
    (["train", "DIR", "--base-width", "0"], "--base-width"),
    (["train", "DIR", "--depth", "7"], "--depth"),
    (["predict", "DIR", "--tile", "0"], "--tile"),
    (["predict", "DIR", "--overlap", "1"], "--overlap"),
    (["predict", "DIR", "--threshold", "2"], "--threshold"),
    (["predict", "DIR", "--threshold", "inf"], "--threshold"),
    (["predict", "DIR", "--min-area", "-3"], "--min-area"),
    (["predict", "DIR", "--max-hole-area", "-1"], "--max-hole-area"),
    (["predict", "DIR", "--smooth", "2"], "--smooth"),
    (["predict", "DIR", "--tolerance", "nan"], "--tolerance"),
    (["export", "onnx", "DIR", "--opset", "0"], "--opset"),
    (["import-masks", "A", "B", "--min-area", "-1"], "--min-area"),
    (["import-masks", "A", "B", "--tolerance", "x"], "--tolerance"),
]


@pytest.mark.parametrize(("argv", "option"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_value_out_of_range_stops_the_command_and_names_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {option}: must be" in err
    assert "Traceback" not in err


def test_values_in_range_and_the_edges_pass():
    assert whole(1)("3") == 3 and whole(1, 6)("6") == 6
    assert number(0, above=True)("0.5") == 0.5 and number(0, 1)("1") == 1.0
    assert number(0, 1, below=True)("0") == 0.0  # --val-fraction 0: validate on the training images
    assert odd_or_zero("0") == 0 and odd_or_zero("5") == 5
    for parse, text in ((whole(1), "1.5"), (number(0, 1, below=True), "1"), (number(0, above=True), "0")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
