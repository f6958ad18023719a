{#- docs/ml.md "Training and validation": every default model trained, its test-set metrics
    beside the baseline's and the generator's own risk's; is_serving for the latest promoted
    one (the model that scores). A view. -#}
{{ config(materialized='view') }}

with

versions as (
    select * from {{ ref('stg_ml__model_versions') }}
),

serving as (
    select max(model_version) as model_version
    from versions
    where is_promoted
),

final as (
    select
        versions.model_version,
        versions.trained_at,
        versions.is_promoted,
        versions.reason,
        versions.training_rows,
        versions.training_from,
        versions.training_to,
        versions.training_default_rate,
        versions.testing_rows,
        versions.testing_from,
        versions.testing_to,
        versions.testing_default_rate,
        versions.test_auc,
        versions.test_ks,
        versions.test_brier,
        versions.baseline_auc,
        versions.baseline_ks,
        versions.baseline_brier,
        versions.true_risk_auc,
        versions.serving_before_auc,
        coalesce(versions.model_version = serving.model_version, false) as is_serving
    from versions
    cross join serving
)

select * from final
