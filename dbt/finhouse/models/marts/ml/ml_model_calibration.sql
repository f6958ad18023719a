{#- docs/ml.md "Training and validation": each model version's calibration on its testing set
    (deciles of predicted probability: mean predicted vs observed default rate), for the model
    and the baseline. A view. -#}
{{ config(materialized='view') }}

with

calibration as (
    select * from {{ ref('stg_ml__model_calibration') }}
),

versions as (
    select * from {{ ref('ml_model_versions') }}
),

final as (
    select
        calibration.model_version || '|' || calibration.model || '|'
        || cast(calibration.bin as {{ dbt.type_string() }}) as calibration_key,
        calibration.model_version,
        versions.is_serving,
        calibration.model,
        calibration.bin,
        calibration.loans,
        calibration.mean_predicted,
        calibration.observed_rate
    from calibration
    inner join versions on calibration.model_version = versions.model_version
)

select * from final
