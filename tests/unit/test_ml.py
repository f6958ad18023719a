"""finhouse.ml without a database: the metrics against hand-computed figures, the calibration
table, the population stability index, the model's input, and a model trained on synthetic
data with a known signal (and on shuffled labels: no signal to find)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from finhouse import ml
from finhouse.oltp import seed

pytestmark = pytest.mark.unit


def test_metrics_against_hand_computed_figures() -> None:
    # 2 defaulters (0.9, 0.4) and 3 others (0.6, 0.2, 0.1): of the 6 pairs, the defaulter
    # ranks higher in 5 (0.4 < 0.6 is the one miss) -> AUC 5/6
    y = [1, 1, 0, 0, 0]
    p = [0.9, 0.4, 0.6, 0.2, 0.1]
    m = ml.evaluate(y, p)
    assert m.auc == pytest.approx(5 / 6)
    # KS: at threshold 0.4, TPR 1 and FPR 1/3 -> 2/3 (the largest gap)
    assert m.ks == pytest.approx(2 / 3)
    brier = ((0.9 - 1) ** 2 + (0.4 - 1) ** 2 + 0.6**2 + 0.2**2 + 0.1**2) / 5
    assert m.brier == pytest.approx(brier)
    assert (m.loans, m.defaults, m.default_rate) == (5, 2, 0.4)
    # one class only: no ranking figure, the Brier score still
    only = ml.evaluate([0, 0, 0], [0.1, 0.2, 0.3])
    assert (only.auc, only.ks) == (None, None)
    assert only.brier == pytest.approx((0.01 + 0.04 + 0.09) / 3)


def test_calibration_deciles() -> None:
    p = np.arange(1, 21) / 100  # 0.01 .. 0.20
    y = np.array([0] * 10 + [1] * 10)
    table = ml.calibration(y, p, bins=4)
    assert [b["loans"] for b in table] == [5, 5, 5, 5]
    assert table[0]["mean_predicted"] == pytest.approx(0.03)
    assert [b["observed_rate"] for b in table] == [0.0, 0.0, 1.0, 1.0]
    assert table[-1]["max_predicted"] == pytest.approx(0.20)


def test_psi() -> None:
    same = pd.Series(np.arange(1000, dtype=float))
    assert ml.psi(same, same, categorical=False) == pytest.approx(0.0, abs=1e-12)
    # categories: 50/50 against 90/10 -> (0.9-0.5) ln(0.9/0.5) + (0.1-0.5) ln(0.1/0.5)
    expected = pd.Series(["a"] * 50 + ["b"] * 50)
    actual = pd.Series(["a"] * 90 + ["b"] * 10)
    by_hand = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)
    assert ml.psi(expected, actual, categorical=True) == pytest.approx(by_hand)
    # a shifted distribution is a shift; missing values are their own bin
    shifted = ml.psi(same, same + 500, categorical=False)
    assert shifted is not None
    assert shifted > ml.PSI_SHIFT
    with_missing = pd.Series([np.nan] * 500 + list(range(500)), dtype=float)
    value = ml.psi(same, with_missing, categorical=False)
    assert value is not None
    assert value > ml.PSI_SHIFT
    assert ml.psi(pd.Series([], dtype=float), same, categorical=False) is None


def _book(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Loans as the marts hold them, with a default driven by leverage and risk appetite."""
    income = rng.lognormal(6.4, 0.6, n).round(2)
    principal = (rng.uniform(200, 5000, n) / 50).round() * 50
    appetite = rng.choice(["low", "medium", "high", None], n)
    frame = pd.DataFrame(
        {
            "loan_id": np.arange(n),
            "principal": principal,
            "annual_interest_rate": rng.uniform(0.15, 0.35, n),
            "installments": rng.choice([6, 12, 24], n),
            "monthly_income": np.where(rng.random(n) < 0.1, None, income),
            "borrower_tenure_days": rng.integers(10, 2000, n),
            "previous_loans": rng.integers(0, 4, n),
            "previous_loans_active": 0,
            "previous_loans_outstanding": 0.0,
            "previous_loans_worst_dpd": None,
            "funded_accounts": 1,
            "deposit_balance": rng.uniform(0, 5000, n),
            "savings_balance": rng.uniform(0, 3000, n),
            "product": rng.choice(["group", "individual", "sme"], n),
            "interest_method": "flat",
            "repayment_frequency": "monthly",
            "branch_code": rng.choice(["NBO01", "MSA01"], n),
            "region": "Central",
            "kyc_status": "verified",
            "risk_appetite": appetite,
        }
    )
    logit = 0.5 + 1.2 * np.log(principal / (12 * income)) + np.where(appetite == "high", 1.5, 0)
    frame[ml.LABEL] = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame


def test_prepare_derives_and_fills() -> None:
    frame = _book(5, np.random.default_rng(1))
    frame.loc[0, "monthly_income"] = None
    frame.loc[1, "risk_appetite"] = None
    x = ml.prepare(frame)
    assert list(x.columns) == list(ml.FEATURES)
    assert math.isnan(x.loc[0, "leverage"])
    assert x.loc[1, "risk_appetite"] == "missing"
    assert x.loc[2, "leverage"] == pytest.approx(
        frame.loc[2, "principal"] / (12 * frame.loc[2, "monthly_income"])
    )


def test_the_model_finds_a_signal_and_nothing_in_shuffled_labels() -> None:
    rng = np.random.default_rng(7)
    training, testing = _book(4000, rng), _book(3000, rng)
    x_train, x_test = ml.prepare(training), ml.prepare(testing)
    y_train, y_test = ml.labels(training), ml.labels(testing)
    gbm = ml.gbm_model(seed=7).fit(x_train, y_train)
    baseline = ml.baseline_model().fit(x_train, y_train)
    auc = ml.evaluate(y_test, gbm.predict_proba(x_test)[:, 1]).auc
    baseline_auc = ml.evaluate(y_test, baseline.predict_proba(x_test)[:, 1]).auc
    assert auc is not None
    assert baseline_auc is not None
    assert auc > 0.7
    assert baseline_auc > 0.7
    drivers = [f["feature"] for f in ml.importance(gbm)[:3]]
    assert "leverage" in drivers or "monthly_income" in drivers
    assert sum(f["importance"] for f in ml.importance(gbm)) == pytest.approx(1.0)
    # the same features with the labels shuffled: nothing to learn, AUC about 0.5 (the mean of
    # five shuffles: one test AUC of noise alone strays by about 0.015 here)
    noise_aucs = []
    for _ in range(5):
        noise = ml.gbm_model(seed=7).fit(x_train, rng.permutation(y_train))
        noise_auc = ml.evaluate(y_test, noise.predict_proba(x_test)[:, 1]).auc
        assert noise_auc is not None
        noise_aucs.append(noise_auc)
    assert abs(float(np.mean(noise_aucs)) - 0.5) < 0.04, noise_aucs


def test_the_generators_risk_table_is_the_one_ml_reads() -> None:
    assert seed.RISK_TABLE == ml.TRUE_RISK_TABLE


def test_the_generators_risk_rises_with_leverage_and_a_late_history() -> None:
    base = {
        "principal_cents": 100_000,
        "income_cents": 50_000,
        "risk_appetite": "medium",
        "product": "individual",
        "previous_good": 0,
        "previous_late": False,
        "saver_activity": 1.0,
        "officer_effect": 0.0,
        "branch_effect": 0.0,
    }
    logit = seed.RISK.logit(**base)  # type: ignore[arg-type]
    leverage = 100_000 / (12 * 50_000)
    assert logit == pytest.approx(seed.RISK.intercept + seed.RISK.log_leverage * math.log(leverage))
    assert seed.RISK.logit(**{**base, "principal_cents": 400_000}) > logit  # type: ignore[arg-type]
    assert seed.RISK.logit(**{**base, "previous_late": True}) == pytest.approx(  # type: ignore[arg-type]
        logit + seed.RISK.previous_late
    )
    assert seed.RISK.logit(**{**base, "previous_good": 5}) == pytest.approx(  # type: ignore[arg-type]
        logit + 3 * seed.RISK.previous_good
    )
    assert 0 < seed.default_probability(logit) < 1
    assert seed.default_probability(0.0) == 0.5
