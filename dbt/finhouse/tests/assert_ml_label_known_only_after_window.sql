{#- The label exists exactly when its 183-day window is over at the as-of date, the training
    and testing sets hold only labelled loans, and the inference set only unlabelled ones. -#}
with

features as (
    select * from {{ ref('ml_default_features') }}
),

training as (
    select * from {{ ref('ml_training_set') }}
),

testing as (
    select * from {{ ref('ml_testing_set') }}
),

inference as (
    select * from {{ ref('ml_inference_set') }}
),

wrong_labels as (
    select loan_id
    from features
    where
        (is_label_known and is_default_within_6_months is null)
        or (not is_label_known and is_default_within_6_months is not null)
        or is_label_known <> (label_window_end_date <= as_of_date)
        or label_window_end_date
        <> cast({{ dbt.dateadd('day', 183, 'disbursed_date') }} as date)
),

wrong_sets as (
    select loan_id
    from training
    where is_default_within_6_months is null
    union all
    select loan_id
    from testing
    where is_default_within_6_months is null
    union all
    select loan_id
    from inference
    where is_default_within_6_months is not null
    union all
    select training.loan_id
    from training
    inner join testing on training.loan_id = testing.loan_id
),

final as (
    select loan_id from wrong_labels
    union all
    select loan_id from wrong_sets
)

select * from final
