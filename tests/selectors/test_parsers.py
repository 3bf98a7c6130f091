"""Score parsers and score arithmetic of the representations."""

from __future__ import annotations

import numpy as np
import pytest

from selbench.representations.deita import expected_score
from selbench.representations.ifd import ifd_from_losses
from selbench.representations.judge_rating import judge_messages, original_extract_score, parse_score


@pytest.mark.parametrize(("reply", "score"), [
    ("5.0", 5.0),                       # the original code read this as 0
    ("Score: 4", 4.0),
    ("I would rate this response 3 out of 5.", 3.0),
    ("Score (0-5): 4\nThe answer is right.", 4.0),
    ("4.5\nexplanation", 4.5),
    ("  2", 2.0),
    ("Rating: 10/10", None),            # out of scale
    ("no number here", None),
    ("", None),
    (None, None),
])
def test_parse_score(reply: str | None, score: float | None) -> None:
    assert parse_score(reply) == score


def test_original_parser_bug_is_what_we_fix() -> None:
    assert original_extract_score("5.0") == 0.0
    assert parse_score("5.0") == 5.0


def test_judge_prompt_is_the_papers() -> None:
    messages = judge_messages("Add 2 and 3.", "5")
    assert messages[0]["role"] == "system" and "feedback on the performance of AI assistant" in messages[0]["content"]
    assert messages[1]["content"].startswith("Instruction: Add 2 and 3. \n Response: 5\nPlease rate")


def test_expected_score_and_ifd() -> None:
    logits = np.array([[0, 0, 0, 0, 0, 0], [-50, -50, -50, -50, -50, 50.0]])
    np.testing.assert_allclose(expected_score(logits), [3.5, 6.0])
    ifd = ifd_from_losses([1.0, 2.0, np.nan, 1.0], [2.0, 1.0, 1.0, 0.0])
    assert ifd[:2].tolist() == [0.5, 2.0] and np.isnan(ifd[2:]).all()
