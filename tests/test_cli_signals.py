"""Issue 14 item 7 and the quiet broken pipe: the CLI ends with one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segdesk import cli


def test_ctrl_c_while_the_parser_is_built(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def interrupted(parser) -> None:  # torch loading for train's options, interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_args_train", interrupted)
    assert cli.main(["train", "somewhere"]) == 130
    err = capsys.readouterr().err
    assert err == "segdesk train: interrupted\n"


def test_ctrl_c_in_the_handler(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_check", interrupted)
    assert cli.main(["check", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "segdesk check: interrupted\n"


def test_closed_stdout_pipe_exits_quietly(tmp_path: Path) -> None:
    for i in range(200):
        (tmp_path / f"{i}.json").write_text(json.dumps({"shapes": 1, "imagePath": "x.png"}))
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -0`: nobody reads
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "segdesk", "check", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""
