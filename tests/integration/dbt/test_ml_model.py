"""The default model on the dbt-built warehouse (finhouse.ml through `finhouse ml`): trained
out of time on the marts, measured beside the baseline and the seed generator's own risk,
stored with its model card, promoted only when it beats the serving model, and scoring every
active loan into the marts with its expected loss; on shuffled labels, nothing to find.
"""

from __future__ import annotations

import json
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import psycopg
import pytest

from finhouse import ml
from tests.conftest import FINHOUSE
from tests.integration.dbt.conftest import Warehouse

pytestmark = pytest.mark.integration


def _ml(built: Warehouse, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINHOUSE, "ml", *args],
        env={**built.env(), "FINHOUSE_ML_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_train_promote_and_score(built: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    # other tests rebuild loans_current alone, and replacing a table drops the views on it
    built.dbt("run", "--select", "config.materialized:view,marts")
    # -- nothing to score with yet: one line, nothing written
    early = _ml(built, folder, "score")
    assert early.returncode != 0
    assert "no serving model" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1

    first = _ml(built, folder, "train")
    assert first.returncode == 0, first.stderr
    assert "serving now: the first model" in first.stdout
    version = ml.serving_version(folder)
    assert version is not None
    card = json.loads((folder / "models" / version / "model_card.json").read_text())
    assert (
        (folder / "models" / version / "model_card.md")
        .read_text()
        .startswith(f"# Default model {version}")
    )
    metrics = card["metrics"]
    # out of time: every testing loan disbursed after every training loan
    assert card["data"]["training_to"] < card["data"]["testing_from"]
    assert metrics["gbm"]["loans"] == card["data"]["testing_rows"] >= 50
    # a real signal (the generator's risk depends on the features), and the generator's own
    # risk - the best any model could do - measured on the same loans
    assert metrics["gbm"]["auc"] > 0.6
    assert metrics["baseline"]["auc"] > 0.6
    assert metrics["true_risk"]["auc"] > 0.6
    assert metrics["true_risk"]["loans"] == metrics["gbm"]["loans"]
    assert len(card["calibration"]["gbm"]) == 10
    assert sum(b["loans"] for b in card["calibration"]["gbm"]) == metrics["gbm"]["loans"]
    assert card["known_limits"]

    with psycopg.connect(built.dsn("reporter")) as reporter:
        row = reporter.execute(
            "select test_auc, baseline_auc, true_risk_auc, is_serving from "
            "marts.ml_model_versions where model_version = %s",
            (version,),
        ).fetchone()
        assert row is not None
        assert abs(float(row[0]) - metrics["gbm"]["auc"]) < 1e-6
        assert abs(float(row[1]) - metrics["baseline"]["auc"]) < 1e-6
        assert row[3] is True
        importance = reporter.execute(
            "select sum(importance), count(*) from marts.ml_feature_importance "
            "where model_version = %s",
            (version,),
        ).fetchone()
        assert importance is not None
        assert abs(float(importance[0]) - 1) < 1e-4
        assert importance[1] == len(ml.FEATURES)

    # -- the same data and seed again: no better, so the serving model stays
    again = _ml(built, folder, "train")
    assert again.returncode == 0, again.stderr
    assert "not serving" in again.stdout
    assert ml.serving_version(folder) == version
    assert len(list((folder / "models").iterdir())) == 2

    # -- scoring: every active loan once, its expected loss = PD x outstanding, to the cent
    scored = _ml(built, folder, "score")
    assert scored.returncode == 0, scored.stderr
    assert f"with model {version}" in scored.stdout
    with psycopg.connect(built.dsn("reporter")) as reporter:
        active = reporter.execute(
            "select count(*), sum(outstanding_principal) from marts.loans_current "
            "where outstanding_principal > 0"
        ).fetchone()
        scores = reporter.execute(
            "select loan_id, outstanding_principal, default_probability, expected_loss, "
            "risk_band, model_version, default_probability_step from marts.loan_default_scores"
        ).fetchall()
        by_segment = reporter.execute(
            "select segment_type, sum(loans), sum(outstanding_principal), sum(expected_loss) "
            "from marts.expected_loss_by_segment group by segment_type"
        ).fetchall()
        drift = reporter.execute("select count(*) from marts.ml_feature_drift").fetchone()
    with psycopg.connect(built.dsn("transformer")) as transformer:
        bands = transformer.execute(
            "select risk_band, min_probability, max_probability from staging.ml_risk_bands"
        ).fetchall()
    assert active is not None
    assert len(scores) == active[0] > 0
    assert len({s[0] for s in scores}) == len(scores)
    for _loan, outstanding, probability, expected_loss, band, model, step in scores:
        assert model == version
        assert step == min(int(probability * 20), 19) * 5
        assert 0 < probability < 1
        assert expected_loss == (outstanding * probability).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        (found,) = [b for b, low, high in bands if low <= probability < high]
        assert band == found
    total_loss = sum(s[3] for s in scores)
    assert {t: (n, o, e) for t, n, o, e in by_segment} == {
        t: (len(scores), active[1], total_loss) for t in ("branch", "product", "loan_officer")
    }
    assert drift == (len(ml.FEATURES),)


def test_shuffled_labels_leave_nothing_to_find(built: Warehouse) -> None:
    """The marts' real features with the training labels shuffled: the test AUC is about 0.5
    (a leak of the label into a feature would show here as a high AUC)."""
    with psycopg.connect(built.dsn("transformer")) as conn:
        training = ml.read_mart(conn, "ml_training_set")
        testing = ml.read_mart(conn, "ml_testing_set")
    x_train, x_test = ml.prepare(training), ml.prepare(testing)
    y_test = ml.labels(testing)
    rng = np.random.default_rng(11)
    aucs = []
    for _ in range(3):
        shuffled = rng.permutation(ml.labels(training))
        model = ml.gbm_model(seed=7).fit(x_train, shuffled)
        auc = ml.evaluate(y_test, model.predict_proba(x_test)[:, 1]).auc
        assert auc is not None
        aucs.append(auc)
    assert abs(float(np.mean(aucs)) - 0.5) < 0.08, aucs
    # the same features with the true labels do find the signal
    real = ml.gbm_model(seed=7).fit(x_train, ml.labels(training))
    real_auc = ml.evaluate(y_test, real.predict_proba(x_test)[:, 1]).auc
    assert real_auc is not None
    assert real_auc > float(np.mean(aucs)) + 0.1
