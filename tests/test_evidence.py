"""Match evidence: the calibrated verdict (semplan.verdict) and the shared terms (semplan.shared_terms)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semplan.shared_terms import shared_terms
from semplan.verdict import CALIBRATION_FILE, calibration_for

PAIRS = Path(__file__).parent / "data" / "pairs" / "clause-pairs.jsonl"


def pair(pair_id: str) -> dict:
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] == pair_id:
            return record
    raise AssertionError(pair_id)


def test_shared_terms_fold_the_script_and_locate_both_sides():
    shared = shared_terms("實施『安吉游戲』推廣計劃", "实施“安吉游戏\"推广计划")
    assert shared.terms == ("安吉游戏",)
    assert shared.spans_a == ((3, 7),) and shared.spans_b == ((3, 7),)


def test_a_paraphrase_shares_no_content_word():
    record = pair("P158")  # 全纳教育 = 普特融合
    assert shared_terms(record["a"]["text"], record["b"]["text"]).content_terms == ()


def test_numbers_are_shared_terms_and_place_names_are_not():
    assert shared_terms("近视率下降0.5%", "辍学率控制在0.5%以下").terms == ("0.5%",)
    assert shared_terms("清远市加强师德师风建设", "清远市大班额比例进一步下降").terms == ()


def test_the_committed_calibration_is_the_one_eval_recomputes(e5_encoder, dev_gold):
    from semplan.evaluation import calibrate_verdicts, read_clause_pairs

    committed = calibration_for(e5_encoder.identity())
    assert committed is not None, f"no calibration for {e5_encoder.identity()} in {CALIBRATION_FILE}"
    result = calibrate_verdicts(read_clause_pairs(PAIRS), e5_encoder, dev_gold)
    assert result.same == pytest.approx(committed.same, abs=0.01)
    assert result.related == pytest.approx(committed.related, abs=0.01)
    assert committed.related < committed.same
    # onnx-int8 quantises activations per batch, so scores move in the third decimal with the batch a
    # text is encoded in; the thresholds sit on a flat optimum and move a little with them
    assert result.held_out["same"]["precision"] >= 0.65
    assert result.held_out["same"]["recall"] >= 0.6
    assert result.gold_check["not_different_recall"] >= 0.9


def test_a_shared_run_is_cut_at_word_boundaries():
    """扩大普惠性 and 加大普惠性 share the characters 大普惠性; the report bolded 大普惠性, half of
    another word in each text. What they share as words is 普惠性 (here inside 普惠性民办)."""
    core = "规范城镇小区配套幼儿园建设使用,支持普惠性民办园发展,着力扩大普惠性学前教育资源。"
    other = "加大普惠性民办幼儿园扶持力度,确保全市公办幼儿园和普惠性民办幼儿园在园幼儿占比"
    assert shared_terms(core, other).terms == ("幼儿园", "普惠性民办")
    assert shared_terms("推广安吉游戏经验", "学习安吉游戏做法").terms == ("安吉游戏",)
