"""`semplan eval verdicts`: calibrate the same / related / different thresholds of a model."""

from __future__ import annotations

from pathlib import Path

import click

import semplan.evaluation as evaluation
from semplan.cli._eval_options import _echo, _encoder, _json_option, _model_options


@click.command(name="verdicts")
@click.argument("pairs_file", type=click.Path(path_type=Path))
@_model_options
@click.option("--gold", type=click.Path(path_type=Path), default=None,
              help="Also check the thresholds on a gold file's queries (format of tests/data/dev-gold.json).")
@click.option("--save", is_flag=True, help="Write the thresholds into semplan's calibration file for this model.")
@_json_option
def verdicts_command(pairs_file: Path, model: str, backend: str, no_cache: bool, gold: Path | None, save: bool,
                     as_json: bool) -> None:
    """Fit the match-verdict thresholds on labelled clause pairs; precision and recall on held-out pairs.

    PAIRS_FILE is JSONL in the format of tests/data/pairs/clause-pairs.jsonl. Odd ids calibrate,
    even ids are held out. --save records the thresholds for the model (semplan/data/verdicts.json).

    \b
    Example:
      semplan eval verdicts tests/data/pairs/clause-pairs.jsonl --gold tests/data/dev-gold.json --save
    """
    from semplan.verdict import CALIBRATION_FILE

    pairs = evaluation.read_clause_pairs(pairs_file)
    gold_data = evaluation.load_gold(gold) if gold is not None else None
    with _encoder(model, backend, no_cache) as encoder:
        result = evaluation.calibrate_verdicts(pairs, encoder, gold_data)
    if save:
        evaluation.save_calibration(result, CALIBRATION_FILE)
    _echo(result, as_json, file=str(pairs_file))
