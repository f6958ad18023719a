"""Default prediction: train and validate out of time, keep versioned models, score the book.

The dbt marts hold the data (``marts.ml_training_set``, ``marts.ml_testing_set``: features
known at disbursement, the label "more than 60 days past due within 6 months", split by
disbursement date; ``marts.ml_default_features``: every disbursed loan). This module:

* :func:`train` fits a gradient-boosted model (LightGBM) and a logistic-regression baseline on
  the training set, measures both on the testing set (AUC, KS, Brier score, a calibration
  table by decile of predicted probability), and, when the OLTP was seeded by finhouse, the
  generator's own risk (:class:`finhouse.oltp.seed.RiskModel`) as the best any model could do.
  The model, its model card (data window, features, metrics, the baseline's, known limits) and
  its feature importance are stored under a version in ``FINHOUSE_ML_DIR``; the new model
  replaces the serving one only when its test AUC beats the serving model's on the same test
  set. The figures go to the warehouse's ``ml`` schema for the dashboards.
* :func:`score` scores every active loan with the serving model into ``ml.loan_default_scores``
  (probability of default, model version) and measures the drift of each feature between the
  training set and the loans scored (population stability index, ``ml.feature_drift``); the
  marts ``loan_default_scores`` and ``expected_loss_by_segment`` add the outstanding principal,
  risk band and expected loss = PD x outstanding principal.

The ``ml`` tables are created by the dbt project (macro ``ensure_ml_tables``, on every run),
so a training needs a built warehouse. PostgreSQL only for now, as the closes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from finhouse.connections import connect
from finhouse.errors import ConfigError

log = logging.getLogger("finhouse.ml")


class TooFewLoansError(ConfigError):
    """The marts hold too few labelled loans to train on or to measure a model."""


class NoServingModelError(ConfigError):
    """No model has been promoted yet: nothing to score with."""


SCHEMA = "ml"
MARTS = "marts"
LABEL = "is_default_within_6_months"
#: what identifies a row, never a feature
KEYS = ("loan_id", "borrower_id", "disbursed_date")
NUMERIC = (
    "principal",
    "annual_interest_rate",
    "installments",
    "monthly_income",
    "borrower_tenure_days",
    "previous_loans",
    "previous_loans_active",
    "previous_loans_outstanding",
    "previous_loans_worst_dpd",
    "funded_accounts",
    "deposit_balance",
    "savings_balance",
)
#: computed here from the columns above (the same at training and scoring)
DERIVED = ("leverage", "log_principal", "savings_to_principal")
CATEGORICAL = (
    "product",
    "interest_method",
    "repayment_frequency",
    "branch_code",
    "region",
    "kyc_status",
    "risk_appetite",
)
FEATURES = (*NUMERIC, *DERIVED, *CATEGORICAL)
GBM_PARAMS: dict[str, Any] = {
    "n_estimators": 400,
    "learning_rate": 0.02,
    "num_leaves": 7,
    "min_child_samples": 30,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
}
#: the tree sizes tried, each fitted on the training set's first 75 % (by disbursement) and
#: measured on its last 25 %: out of time again, the testing set never looked at
GBM_GRID: tuple[dict[str, Any], ...] = tuple(
    {"num_leaves": leaves, "min_child_samples": child}
    for leaves in (3, 7, 15)
    for child in (30, 80)
)
VALIDATION_SHARE = 0.25
CALIBRATION_BINS = 10
#: the OLTP table in which the seed generator keeps each loan's true probability of default
#: (finhouse.oltp.seed.RiskModel); absent from an institution's own OLTP
TRUE_RISK_TABLE = "seed_loan_default_risk"
#: the training rows kept with a model (a sample) to measure the scored loans' drift against
REFERENCE_ROWS = 20_000
#: population stability index: below 0.1 stable, from 0.25 a shift (a common rule of thumb)
PSI_MODERATE, PSI_SHIFT = 0.1, 0.25
KNOWN_LIMITS = (
    "Features are what was known at disbursement: the score is an application score; it does "
    "not move with a loan's repayment after disbursement (days past due are not a feature).",
    "The label is 'more than 60 days past due within 183 days of disbursement': loans of the "
    "last 183 days have no label yet and are scored, not trained on.",
    "Out of time: trained on loans disbursed before the split date, measured on loans after "
    "it; a model trained on one institution's history holds for that portfolio only.",
    "The borrower's branch is the one valid at disbursement; the loan officer is not a feature "
    "(officer effects show as unexplained risk).",
    "Probabilities are the model's raw output: the calibration table shows how they compare "
    "with observed default rates per decile.",
)


@dataclass
class Metrics:
    loans: int
    defaults: int
    default_rate: float
    auc: float | None
    ks: float | None
    brier: float | None


@dataclass
class TrainResult:
    version: str
    folder: Path
    promoted: bool
    reason: str
    card: dict[str, Any]

    def describe(self) -> str:
        metrics = self.card["metrics"]
        parts = [
            f"model {self.version}: test AUC {fmt(metrics['gbm']['auc'])} "
            f"(baseline {fmt(metrics['baseline']['auc'])}"
            + (
                f", the generator's risk {fmt(metrics['true_risk']['auc'])}"
                if metrics.get("true_risk")
                else ""
            )
            + f"), KS {fmt(metrics['gbm']['ks'])}, Brier {fmt(metrics['gbm']['brier'], 4)} "
            f"on {metrics['gbm']['loans']:,} loans disbursed "
            f"{self.card['data']['testing_from']}..{self.card['data']['testing_to']}",
            ("serving now: " if self.promoted else "not serving: ") + self.reason,
            f"model card: {self.folder / 'model_card.md'}",
        ]
        return "\n".join(parts)


@dataclass
class ScoreResult:
    model_version: str
    loans: int
    mean_probability: float
    drifted: list[str] = field(default_factory=list)

    def describe(self) -> str:
        drift = (
            f"; drift (PSI >= {PSI_SHIFT}): {', '.join(self.drifted)}"
            if self.drifted
            else "; no feature drifted"
        )
        return (
            f"scored {self.loans:,} active loans with model {self.model_version}: mean PD "
            f"{self.mean_probability:.2%}{drift}"
        )


def fmt(value: float | None, places: int = 3) -> str:
    return "-" if value is None else f"{value:.{places}f}"


# ---------------------------------------------------------------------------- data
def _frame(conn: Any, query: str, params: Sequence[Any] = ()) -> Any:
    import pandas as pd  # noqa: PLC0415

    cur = conn.execute(query, params)
    columns = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns)


def _require(conn: Any, name: str) -> None:
    found = conn.execute("select to_regclass(%s) is not null", (f"{MARTS}.{name}",)).fetchone()
    if not found or not found[0]:
        raise ConfigError(
            f"the mart {MARTS}.{name} does not exist: build the marts first "
            "(`finhouse dbt build`, or the finhouse_dbt DAG)"
        )


def read_mart(conn: Any, name: str) -> Any:
    """A mart of loans as a DataFrame, in disbursement order."""
    _require(conn, name)
    return _frame(conn, f"select * from {MARTS}.{name} order by disbursed_date, loan_id")


def _ml_tables(conn: Any) -> None:
    found = conn.execute("select to_regclass('ml.model_versions') is not null").fetchone()
    if not found or not found[0]:
        raise ConfigError(
            "the warehouse has no ml schema: build the marts first (`finhouse dbt build`, or "
            "the finhouse_dbt DAG: the dbt project creates it)"
        )


def prepare(frame: Any) -> Any:
    """The model's input: the numeric features as floats (missing = NaN), the derived ones,
    the categorical ones as text (missing = "missing")."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    out = pd.DataFrame(index=frame.index)
    for name in NUMERIC:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    income = out["monthly_income"].where(out["monthly_income"] > 0)
    out["leverage"] = out["principal"] / (12 * income)
    out["log_principal"] = np.log1p(out["principal"].clip(lower=0))
    out["savings_to_principal"] = out["savings_balance"] / out["principal"].where(
        out["principal"] > 0
    )
    for name in CATEGORICAL:
        out[name] = frame[name].astype(object).where(frame[name].notna(), "missing").astype(str)
    return out[list(FEATURES)]


def labels(frame: Any) -> Any:
    return frame[LABEL].astype(bool).astype(int).to_numpy()


# ---------------------------------------------------------------------------- models
def _preprocessor(scale: bool) -> Any:
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    numeric: Any = (
        Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                ),
                ("scale", StandardScaler()),
            ]
        )
        if scale
        else "passthrough"  # LightGBM handles missing values itself
    )
    return ColumnTransformer(
        [
            ("num", numeric, [*NUMERIC, *DERIVED]),
            (
                "cat",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5),
                list(CATEGORICAL),
            ),
        ],
        verbose_feature_names_out=True,
    )


def baseline_model() -> Any:
    """Logistic regression on imputed, scaled numbers and one-hot categories."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    return Pipeline(
        [("prepare", _preprocessor(scale=True)), ("model", LogisticRegression(max_iter=2000))]
    )


def gbm_model(seed: int, **params: Any) -> Any:
    """LightGBM on the raw numbers (missing values handled by its splits) and one-hot
    categories; ``params`` override GBM_PARAMS."""
    from lightgbm import LGBMClassifier  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    return Pipeline(
        [
            ("prepare", _preprocessor(scale=False)),
            (
                "model",
                LGBMClassifier(**{**GBM_PARAMS, **params}, random_state=seed, n_jobs=1, verbose=-1),
            ),
        ]
    )


def select_params(x: Any, y: Any, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GBM_GRID entry with the best AUC on the last VALIDATION_SHARE of the training set
    (rows in disbursement order) when fitted on the rest; ties to the smaller trees. Returns
    it and every entry's validation AUC."""
    cut = int(len(x) * (1 - VALIDATION_SHARE))
    tried = []
    for params in GBM_GRID:
        model = gbm_model(seed, **params).fit(x.iloc[:cut], y[:cut])
        auc = evaluate(y[cut:], model.predict_proba(x.iloc[cut:])[:, 1]).auc
        tried.append({**params, "validation_auc": auc})
    best = max(
        tried,
        key=lambda t: (t["validation_auc"] or 0.0, -t["num_leaves"], -t["min_child_samples"]),
    )
    return {k: best[k] for k in GBM_GRID[0]}, tried


def evaluate(y: Any, probability: Any) -> Metrics:
    """AUC, KS (the largest gap between the cumulative distributions of defaulters and
    non-defaulters over the score) and Brier score; none of the ranking figures without both
    classes."""
    import numpy as np  # noqa: PLC0415
    from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve  # noqa: PLC0415

    y = np.asarray(y)
    p = np.asarray(probability, dtype=float)
    defaults = int(y.sum())
    both = 0 < defaults < len(y)
    ks = None
    if both:
        fpr, tpr, _ = roc_curve(y, p)
        ks = float(np.max(tpr - fpr))
    return Metrics(
        loans=len(y),
        defaults=defaults,
        default_rate=defaults / len(y) if len(y) else 0.0,
        auc=float(roc_auc_score(y, p)) if both else None,
        ks=ks,
        brier=float(brier_score_loss(y, p)) if len(y) else None,
    )


def calibration(y: Any, probability: Any, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """The loans in ``bins`` groups of (nearly) equal size by predicted probability: for each,
    the loans, the mean predicted probability and the observed default rate."""
    import numpy as np  # noqa: PLC0415

    y = np.asarray(y)
    p = np.asarray(probability, dtype=float)
    order = np.argsort(p, kind="stable")
    out = []
    for number, part in enumerate(np.array_split(order, min(bins, len(order))), start=1):
        if len(part) == 0:
            continue
        out.append(
            {
                "bin": number,
                "loans": len(part),
                "mean_predicted": float(p[part].mean()),
                "observed_rate": float(y[part].mean()),
                "min_predicted": float(p[part].min()),
                "max_predicted": float(p[part].max()),
            }
        )
    return out


def importance(model: Any) -> list[dict[str, Any]]:
    """The GBM's total gain per feature (one-hot columns summed back to their feature), as a
    share of the whole, largest first."""
    names = model.named_steps["prepare"].get_feature_names_out()
    gains = model.named_steps["model"].booster_.feature_importance(importance_type="gain")
    totals: dict[str, float] = dict.fromkeys(FEATURES, 0.0)
    for name, gain in zip(names, gains, strict=True):
        transformer, _, column = str(name).partition("__")
        feature = column
        if transformer == "cat":
            feature = next(
                c for c in sorted(CATEGORICAL, key=len, reverse=True) if column.startswith(c + "_")
            )
        elif column.startswith("missingindicator_"):
            feature = column.removeprefix("missingindicator_")
        totals[feature] = totals.get(feature, 0.0) + float(gain)
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [
        {"feature": feature, "importance": gain / whole, "rank": rank}
        for rank, (feature, gain) in enumerate(ranked, start=1)
    ]


def psi(expected: Any, actual: Any, categorical: bool) -> float | None:
    """Population stability index of ``actual`` against ``expected``: sum over bins of
    (a - e) x ln(a / e), the bins being the categories, or the deciles of ``expected`` (and
    a bin for missing values); shares floored at 0.0001."""
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    expected = pd.Series(expected)
    actual = pd.Series(actual)
    if len(expected) == 0 or len(actual) == 0:
        return None
    if categorical:
        e_bins = expected.astype(str)
        a_bins = actual.astype(str)
    else:
        known = expected.dropna().to_numpy(dtype=float)
        deciles = np.linspace(0, 1, 11)[1:-1]
        edges: Any = np.unique(np.quantile(known, deciles)) if len(known) else []

        def bucket(values: Any) -> Any:
            numbers = values.to_numpy(dtype=float)
            found = np.searchsorted(edges, numbers, side="right").astype(object)
            found[np.isnan(numbers)] = "missing"
            return pd.Series(found).astype(str)

        e_bins = bucket(expected)
        a_bins = bucket(actual)
    e_share = e_bins.value_counts(normalize=True)
    a_share = a_bins.value_counts(normalize=True)
    total = 0.0
    for key in set(e_share.index) | set(a_share.index):
        e = max(float(e_share.get(key, 0.0)), 1e-4)
        a = max(float(a_share.get(key, 0.0)), 1e-4)
        total += (a - e) * math.log(a / e)
    return total


def drift(training: Any, scored: Any) -> list[dict[str, Any]]:
    """Each feature's PSI between the training set and the loans scored, with a verdict."""
    out = []
    for feature in FEATURES:
        value = psi(training[feature], scored[feature], feature in CATEGORICAL)
        verdict = (
            "no data"
            if value is None
            else "shift"
            if value >= PSI_SHIFT
            else "moderate"
            if value >= PSI_MODERATE
            else "stable"
        )
        out.append({"feature": feature, "psi": value, "verdict": verdict})
    return out


# ---------------------------------------------------------------------------- storage
def model_dir() -> Path:
    """``FINHOUSE_ML_DIR``, else ``<state dir>/ml``."""
    from finhouse import settings  # noqa: PLC0415

    configured = settings.load()
    return configured.ml_dir or configured.state_dir / "ml"


def serving_version(folder: Path) -> str | None:
    pointer = folder / "serving.json"
    try:
        return str(json.loads(pointer.read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_model(folder: Path, version: str) -> Any:
    import joblib  # noqa: PLC0415

    path = folder / "models" / version / "model.joblib"
    if not path.is_file():
        raise ConfigError(f"model {version} is missing from {folder / 'models'}")
    return joblib.load(path)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    Path(temporary).replace(path)


def _new_version(folder: Path, now: dt.datetime) -> str:
    stem = now.strftime("%Y%m%dT%H%M%SZ")
    version, n = stem, 1
    while (folder / "models" / version).exists():
        n += 1
        version = f"{stem}-{n}"
    return version


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown (the JSON beside it holds the same, and more)."""
    m = card["metrics"]
    rows = [("gradient-boosted (LightGBM)", m["gbm"]), ("logistic regression", m["baseline"])]
    if m.get("true_risk"):
        rows.append(("the generator's own risk (best possible)", m["true_risk"]))
    if m.get("serving_before"):
        rows.append((f"serving before ({card['serving_before']})", m["serving_before"]))
    lines = [
        f"# Default model {card['version']}",
        "",
        f"Trained {card['trained_at']} on the marts built as of {card['data']['as_of']}. "
        f"{'Serving' if card['promoted'] else 'Not serving'}: {card['reason']}.",
        "",
        "## Data",
        "",
        f"- Label: {card['data']['label']}.",
        f"- Training: {card['data']['training_rows']:,} loans disbursed "
        f"{card['data']['training_from']} to {card['data']['training_to']} "
        f"({card['data']['training_default_rate']:.2%} defaulted).",
        f"- Testing (out of time): {card['data']['testing_rows']:,} loans disbursed "
        f"{card['data']['testing_from']} to {card['data']['testing_to']} "
        f"({card['data']['testing_default_rate']:.2%} defaulted).",
        f"- Features ({len(card['features'])}): {', '.join(card['features'])}.",
        "",
        "## Model",
        "",
        f"LightGBM, {card['model']['params']['n_estimators']} trees of at most "
        f"{card['model']['params']['num_leaves']} leaves (at least "
        f"{card['model']['params']['min_child_samples']} loans each), learning rate "
        f"{card['model']['params']['learning_rate']}: the tree size with the best AUC on "
        f"{card['model']['selection']['validation']} ("
        + ", ".join(
            f"{t['num_leaves']}/{t['min_child_samples']}: {fmt(t['validation_auc'])}"
            for t in card["model"]["selection"]["tried"]
        )
        + ").",
        "",
        "## Test-set metrics",
        "",
        "| model | AUC | KS | Brier |",
        "|---|---|---|---|",
        *(
            f"| {name} | {fmt(x['auc'])} | {fmt(x['ks'])} | {fmt(x['brier'], 4)} |"
            for name, x in rows
        ),
        "",
        "## Calibration (test set, deciles of predicted probability)",
        "",
        "| decile | loans | mean predicted | observed |",
        "|---|---|---|---|",
        *(
            f"| {b['bin']} | {b['loans']} | {b['mean_predicted']:.2%} | {b['observed_rate']:.2%} |"
            for b in card["calibration"]["gbm"]
        ),
        "",
        "## Top risk drivers (share of the model's gain)",
        "",
        *(f"{f['rank']}. {f['feature']}: {f['importance']:.1%}" for f in card["importance"][:10]),
        "",
        "## Known limits",
        "",
        *(f"- {limit}" for limit in card["known_limits"]),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- training
def _true_risk(oltp_dsn: str | None, loan_ids: Sequence[int]) -> dict[int, float] | None:
    """The seed generator's probability of default per loan, when the OLTP has it."""
    if not oltp_dsn:
        return None
    try:
        with connect(oltp_dsn) as conn:
            found = conn.execute(
                "select to_regclass(%s) is not null", (TRUE_RISK_TABLE,)
            ).fetchone()
            if not found or not found[0]:
                return None
            rows = conn.execute(
                f"select loan_id, default_probability from {TRUE_RISK_TABLE} "
                "where loan_id = any(%s)",
                (list(loan_ids),),
            ).fetchall()
    except Exception as exc:  # noqa: BLE001 - the comparison is optional
        log.warning(
            "the generator's risk could not be read (%s): reported without it", type(exc).__name__
        )
        return None
    return {int(loan_id): float(p) for loan_id, p in rows}


def train(
    dsn: str,
    *,
    folder: Path | None = None,
    seed: int = 7,
    oltp_dsn: str | None = None,
    promote: bool = True,
    now: dt.datetime | None = None,
) -> TrainResult:
    """Train, measure, store a new version, promote it if it beats the serving model, and
    record the figures in the warehouse's ``ml`` schema (see the module doc)."""
    import joblib  # noqa: PLC0415
    import lightgbm  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import sklearn  # noqa: PLC0415

    folder = folder or model_dir()
    now = now or dt.datetime.now(dt.UTC)
    with connect(dsn) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        training = read_mart(conn, "ml_training_set")
        testing = read_mart(conn, "ml_testing_set")
    for name, frame in (("training", training), ("testing", testing)):
        y = labels(frame) if len(frame) else np.array([])
        if len(frame) < 50 or y.sum() < 5 or y.sum() == len(y):
            raise TooFewLoansError(
                f"the {name} set has {len(frame)} loans ({int(y.sum())} defaulted): too few to "
                "train on or to measure (more history, or another var ml_split_date)"
            )
    x_train, y_train = prepare(training), labels(training)
    x_test, y_test = prepare(testing), labels(testing)

    chosen, tried = select_params(x_train, y_train, seed)
    gbm = gbm_model(seed, **chosen).fit(x_train, y_train)
    baseline = baseline_model().fit(x_train, y_train)
    p_gbm = gbm.predict_proba(x_test)[:, 1]
    p_baseline = baseline.predict_proba(x_test)[:, 1]
    metrics: dict[str, Any] = {
        "gbm": asdict(evaluate(y_test, p_gbm)),
        "baseline": asdict(evaluate(y_test, p_baseline)),
    }
    truth = _true_risk(oltp_dsn, testing["loan_id"].tolist())
    if truth and all(int(i) in truth for i in testing["loan_id"]):
        p_true = np.array([truth[int(i)] for i in testing["loan_id"]])
        metrics["true_risk"] = asdict(evaluate(y_test, p_true))

    current = serving_version(folder)
    promoted, reason = True, "the first model"
    if current:
        try:
            previous = load_model(folder, current)
            p_previous = previous["model"].predict_proba(x_test)[:, 1]
            metrics["serving_before"] = asdict(evaluate(y_test, p_previous))
            before, after = metrics["serving_before"]["auc"], metrics["gbm"]["auc"]
            promoted = after is not None and (before is None or after > before)
            reason = (
                f"test AUC {fmt(after)} > {fmt(before)} of the serving model {current}"
                if promoted
                else f"test AUC {fmt(after)} does not beat {fmt(before)} of the serving "
                f"model {current}, which stays"
            )
        except Exception as exc:  # noqa: BLE001 - an unreadable model is replaced
            reason = f"the serving model {current} could not be used ({type(exc).__name__})"
    if not promote:
        promoted, reason = False, "not promoted (--no-promote)"

    version = _new_version(folder, now)
    card: dict[str, Any] = {
        "version": version,
        "trained_at": now.isoformat(timespec="seconds"),
        "promoted": promoted,
        "reason": reason,
        "serving_before": current,
        "data": {
            "as_of": str(training["as_of_date"].iloc[0]) if "as_of_date" in training else None,
            "label": "more than 60 days past due on a day within 183 days of disbursement",
            "training_rows": len(training),
            "training_from": str(training["disbursed_date"].min()),
            "training_to": str(training["disbursed_date"].max()),
            "training_default_rate": float(y_train.mean()),
            "testing_rows": len(testing),
            "testing_from": str(testing["disbursed_date"].min()),
            "testing_to": str(testing["disbursed_date"].max()),
            "testing_default_rate": float(y_test.mean()),
        },
        "features": list(FEATURES),
        "model": {
            "kind": "LightGBM LGBMClassifier",
            "params": {**GBM_PARAMS, **chosen},
            "seed": seed,
            "selection": {
                "validation": f"the training set's last {VALIDATION_SHARE:.0%} by disbursement",
                "tried": tried,
            },
        },
        "baseline": {"kind": "scikit-learn LogisticRegression (imputed, scaled, one-hot)"},
        "metrics": metrics,
        "calibration": {
            "gbm": calibration(y_test, p_gbm),
            "baseline": calibration(y_test, p_baseline),
        },
        "importance": importance(gbm),
        "known_limits": list(KNOWN_LIMITS),
        "libraries": {
            "lightgbm": lightgbm.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
    }
    # the version's folder appears whole (written aside, then renamed)
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=models, prefix=f".{version}."))
    try:
        joblib.dump(
            {
                "model": gbm,
                "features": list(FEATURES),
                "version": version,
                # what the drift of the scored loans is measured against
                "reference": x_train.sample(
                    n=min(len(x_train), REFERENCE_ROWS), random_state=seed
                ).reset_index(drop=True),
            },
            staging / "model.joblib",
        )
        (staging / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
        (staging / "model_card.md").write_text(card_markdown(card))
        staging.replace(models / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _record_training(dsn, card)
    if promoted:
        _write_atomically(
            folder / "serving.json",
            json.dumps({"version": version, "since": now.isoformat(timespec="seconds")}),
        )
    return TrainResult(version, models / version, promoted, reason, card)


def _record_training(dsn: str, card: dict[str, Any]) -> None:
    """The version's figures into ml.model_versions, ml.model_calibration and
    ml.feature_importance, in one transaction."""
    m = card["metrics"]
    with connect(dsn) as conn, conn.transaction():
        _ml_tables(conn)
        conn.execute(
            f"insert into {SCHEMA}.model_versions (model_version, trained_at, is_promoted, reason, "
            "training_rows, training_from, training_to, training_default_rate, testing_rows, "
            "testing_from, testing_to, testing_default_rate, test_auc, test_ks, test_brier, "
            "baseline_auc, baseline_ks, baseline_brier, true_risk_auc, serving_before_auc, "
            "model_card) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s)",
            (
                card["version"],
                card["trained_at"],
                card["promoted"],
                card["reason"],
                card["data"]["training_rows"],
                card["data"]["training_from"],
                card["data"]["training_to"],
                card["data"]["training_default_rate"],
                card["data"]["testing_rows"],
                card["data"]["testing_from"],
                card["data"]["testing_to"],
                card["data"]["testing_default_rate"],
                m["gbm"]["auc"],
                m["gbm"]["ks"],
                m["gbm"]["brier"],
                m["baseline"]["auc"],
                m["baseline"]["ks"],
                m["baseline"]["brier"],
                (m.get("true_risk") or {}).get("auc"),
                (m.get("serving_before") or {}).get("auc"),
                json.dumps(card, default=str),
            ),
        )
        with conn.cursor().copy(
            f"copy {SCHEMA}.model_calibration (model_version, model, bin, loans, mean_predicted, "
            "observed_rate) from stdin"
        ) as copy:
            for model, bins in card["calibration"].items():
                for b in bins:
                    copy.write_row(
                        (
                            card["version"],
                            model,
                            b["bin"],
                            b["loans"],
                            b["mean_predicted"],
                            b["observed_rate"],
                        )
                    )
        with conn.cursor().copy(
            f"copy {SCHEMA}.feature_importance (model_version, feature, importance, rank) "
            "from stdin"
        ) as copy:
            for f in card["importance"]:
                copy.write_row((card["version"], f["feature"], f["importance"], f["rank"]))


# ---------------------------------------------------------------------------- scoring
def score(dsn: str, *, folder: Path | None = None, now: dt.datetime | None = None) -> ScoreResult:
    """Score every active loan (outstanding principal > 0 in loans_current) with the serving
    model: ml.loan_default_scores replaced by this run's scores and ml.feature_drift by this
    run's drift, in one transaction, with a line in ml.scoring_runs."""
    import numpy as np  # noqa: PLC0415

    folder = folder or model_dir()
    now = now or dt.datetime.now(dt.UTC)
    version = serving_version(folder)
    if version is None:
        raise NoServingModelError(
            f"no serving model in {folder}: train one first (`finhouse ml train`, or the "
            "finhouse_ml_train DAG)"
        )
    stored = load_model(folder, version)
    with connect(dsn) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        _require(conn, "loans_current")
        _require(conn, "ml_default_features")
        features = _frame(
            conn,
            f"select f.* from {MARTS}.ml_default_features f "
            f"join {MARTS}.loans_current l on l.loan_id = f.loan_id "
            "where l.outstanding_principal > 0 order by f.loan_id",
        )
    x = prepare(features)
    probability = stored["model"].predict_proba(x)[:, 1] if len(x) else np.array([])
    drifts = drift(stored["reference"], x) if len(x) else []
    with connect(dsn) as conn, conn.transaction():
        _ml_tables(conn)
        conn.execute(f"delete from {SCHEMA}.loan_default_scores")
        with conn.cursor().copy(
            f"copy {SCHEMA}.loan_default_scores (loan_id, default_probability, model_version, "
            "scored_at) from stdin"
        ) as copy:
            for loan_id, p in zip(features["loan_id"], probability, strict=True):
                copy.write_row((int(loan_id), float(p), version, now))
        conn.execute(f"delete from {SCHEMA}.feature_drift")
        with conn.cursor().copy(
            f"copy {SCHEMA}.feature_drift (feature, psi, verdict, model_version, computed_at) "
            "from stdin"
        ) as copy:
            for d in drifts:
                copy.write_row((d["feature"], d["psi"], d["verdict"], version, now))
        conn.execute(
            f"insert into {SCHEMA}.scoring_runs (scored_at, model_version, loans, "
            "mean_probability) values (%s, %s, %s, %s)",
            (now, version, len(x), float(probability.mean()) if len(x) else None),
        )
    return ScoreResult(
        version,
        len(x),
        float(probability.mean()) if len(x) else 0.0,
        [d["feature"] for d in drifts if d["verdict"] == "shift"],
    )


def list_versions(dsn: str) -> list[tuple[Any, ...]]:
    with connect(dsn) as conn:
        _ml_tables(conn)
        return conn.execute(
            f"select model_version, trained_at, is_promoted, test_auc, baseline_auc, "
            f"true_risk_auc from {SCHEMA}.model_versions order by trained_at"
        ).fetchall()
