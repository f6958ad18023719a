{#- docs/ml.md "Training and validation": the top risk drivers, each feature's share of each
    model version's gain. A view. -#}
{{ config(materialized='view') }}

with

importance as (
    select * from {{ ref('stg_ml__feature_importance') }}
),

versions as (
    select * from {{ ref('ml_model_versions') }}
),

final as (
    select
        importance.model_version,
        versions.is_serving,
        importance.feature,
        importance.importance,
        importance.importance_rank,
        importance.model_version || '|' || importance.feature as importance_key
    from importance
    inner join versions on importance.model_version = versions.model_version
)

select * from final
