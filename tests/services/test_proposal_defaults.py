"""A project's proposal settings (.segdesk/proposals.json): what the Model panel and segdesk predict share."""

from __future__ import annotations

from pathlib import Path

import pytest

from segdesk.core.errors import ProjectError
from segdesk.services.proposal_defaults import (
    describe,
    project_proposal_settings,
    proposals_path,
    save_project_proposal_settings,
)
from segdesk.services.proposals import ProposalSettings


def test_round_trip_and_only_what_differs_is_written(tmp_path: Path) -> None:
    assert project_proposal_settings(tmp_path) == ProposalSettings()
    chosen = ProposalSettings(threshold=0.7, min_area=30, tolerance=1.0)
    save_project_proposal_settings(tmp_path, chosen)
    assert proposals_path(tmp_path).read_text() == '{\n  "min_area": 30,\n  "threshold": 0.7\n}\n'
    assert project_proposal_settings(tmp_path) == chosen
    assert describe(chosen) == "threshold 0.7, min area 30 px"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"threshold": 1.5}', "threshold: must be from 0 to 1, not 1.5"),
        ('{"min_area": 2.5}', "min_area: must be a whole number, not 2.5"),
        ('{"smooth": 4}', "smooth: must be 0 (off) or odd, not 4"),
        ('{"tolerance": "x"}', 'tolerance: must be a number, not "x"'),
        ('{"holes": 3}', "holes: is not one of the settings"),
        ("[]", "must hold a JSON object"),
        ("{", "is not valid JSON"),
    ],
)
def test_a_damaged_file_is_refused_naming_the_field(tmp_path: Path, text: str, says: str) -> None:
    proposals_path(tmp_path).parent.mkdir()
    proposals_path(tmp_path).write_text(text)
    with pytest.raises(ProjectError) as caught:
        project_proposal_settings(tmp_path)
    assert str(caught.value).startswith(str(proposals_path(tmp_path))) and says in str(caught.value)
