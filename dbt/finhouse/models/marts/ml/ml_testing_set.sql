{#- Labelled loans disbursed on or after the split date (ml_default_features.sample_set):
    the out-of-time testing set of the default model. -#}
with

features as (
    select * from {{ ref('ml_default_features') }}
),

final as (
    select *
    from features
    where sample_set = 'testing'
)

select * from final
