{#- Labelled loans disbursed before the split date (ml_default_features.sample_set):
    the training set of the default model. -#}
with

features as (
    select * from {{ ref('ml_default_features') }}
),

final as (
    select *
    from features
    where sample_set = 'training'
)

select * from final
