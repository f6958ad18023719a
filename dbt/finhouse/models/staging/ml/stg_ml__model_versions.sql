-- One SELECT without WITH (docs/transformation.md, "Views without WITH").
select
    model_version,
    trained_at,
    is_promoted,
    reason,
    training_rows,
    training_from,
    training_to,
    cast(training_default_rate as numeric(9, 6)) as training_default_rate,
    testing_rows,
    testing_from,
    testing_to,
    cast(testing_default_rate as numeric(9, 6)) as testing_default_rate,
    cast(test_auc as numeric(9, 6)) as test_auc,
    cast(test_ks as numeric(9, 6)) as test_ks,
    cast(test_brier as numeric(9, 6)) as test_brier,
    cast(baseline_auc as numeric(9, 6)) as baseline_auc,
    cast(baseline_ks as numeric(9, 6)) as baseline_ks,
    cast(baseline_brier as numeric(9, 6)) as baseline_brier,
    cast(true_risk_auc as numeric(9, 6)) as true_risk_auc,
    cast(serving_before_auc as numeric(9, 6)) as serving_before_auc
from {{ source('ml', 'model_versions') }}
