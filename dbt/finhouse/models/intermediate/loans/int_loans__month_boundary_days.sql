{#- The rows of int_loans__daily_delinquency (figures defined in int_loans__delinquency) that
    month-based marts read: each loan's first and last day of every calendar month, and the
    as-of date (the end of the partial as-of month). Roll rates and vintage curves read these
    ~1/15 of the daily rows instead of scanning every loan day.

    Incremental per loan: a run on the same as-of date copies the loans the delinquency model
    restated since the last run (found through its source_changed_at index); a run on a new
    as-of date copies every loan again (the as-of day moved). Loans no longer disbursed, and
    rows left from an earlier as-of date, are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['loan_id', 'as_of_date'], 'unique': True},
            {'columns': ['as_of_date']},
        ],
        post_hook=[
            "{% if is_incremental() %}{{ remove_loans_no_longer_disbursed() }}
             {% else %}select 1{% endif %}",
            "{% if is_incremental() %}{{ remove_loans_with_empty_windows() }}
             {% else %}select 1{% endif %}",
            "{% if is_incremental() %}delete from {{ this }}
             where computed_as_of <> {{ as_of_date() }}{% else %}select 1{% endif %}",
        ],
    )
}}

-- (its clean-up post-hook reads them)
-- depends_on: {{ ref('stg_oltp__loans') }}, {{ ref('stg_oltp__loans_versions') }}
with

daily as (
    select * from {{ ref('int_loans__daily_delinquency') }}
),

boundary_days as {{ inlined_cte() }} (
    select
        loan_id,
        as_of_date,
        outstanding_principal,
        days_past_due,
        dpd_bucket,
        is_active,
        par1_amount,
        par30_amount,
        par60_amount,
        par90_amount,
        source_changed_at
    from daily
    where
        as_of_date = cast({{ dbt.date_trunc('month', 'as_of_date') }} as date)
        or as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
        or as_of_date = {{ as_of_date() }}
),

{% if is_incremental() %}
    computed as (
        select
            max(source_changed_at) as source_changed_at,
            max(computed_as_of) as computed_as_of
        from {{ this }}
    ),

    -- (also when the model holds no row yet)
    as_of_moved as (
        select coalesce(computed_as_of <> {{ as_of_date() }}, true) as is_moved from computed
    ),

    restated_loans as (
        select distinct restated.loan_id
        from {{ ref('int_loans__daily_delinquency') }} as restated
        cross join computed
        where restated.source_changed_at > computed.source_changed_at
    ),

    rows_to_copy as (
        -- a new as-of date: every loan (evaluated once: no scan when false)
        select boundary_days.*
        from boundary_days
        where (select as_of_moved.is_moved from as_of_moved)
        union all
        -- the same as-of date: the restated loans, through the delinquency model's loan_id
        -- index
        select boundary_days.*
        from boundary_days
        where
            not (select as_of_moved.is_moved from as_of_moved)
            and {{ in_small_set('boundary_days.loan_id', 'select loan_id from restated_loans') }}
    ),
{% else %}
    rows_to_copy as (
        select * from boundary_days
    ),
{% endif %}

final as (
    select
        loan_id,
        as_of_date,
        outstanding_principal,
        days_past_due,
        dpd_bucket,
        is_active,
        par1_amount,
        par30_amount,
        par60_amount,
        par90_amount,
        source_changed_at,
        {{ as_of_date() }} as computed_as_of
    from rows_to_copy
)

select * from final
