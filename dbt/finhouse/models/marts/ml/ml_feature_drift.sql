{#- docs/ml.md "Drift": each feature's population stability index between the serving model's
    training set and the loans of the latest scoring run (stable < 0.1 <= moderate < 0.25 <=
    shift). A view. -#}
{{ config(materialized='view') }}

with

drift as (
    select * from {{ ref('stg_ml__feature_drift') }}
),

final as (
    select
        feature,
        psi,
        verdict,
        model_version,
        computed_at
    from drift
)

select * from final
