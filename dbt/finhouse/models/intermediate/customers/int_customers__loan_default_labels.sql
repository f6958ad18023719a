{#- The default label of every disbursed loan: was it in PAR60 (more than 60 days past due,
    as int_loans__delinquency defines it: its PAR60 amount is positive; read through
    int_loans__daily_delinquency) on any day from the disbursement date to 183 days after it
    (about 6 months)? Null while that
    window is not over at as_of_date, even if the loan already crossed 60 days: a label is
    only final when the whole window is known.

    Incremental per loan: a run recomputes every loan whose daily delinquency was restated
    since the last run (its source_changed_at, found through that model's index), every loan
    not computed yet, and, when the as-of date moved, every loan whose window was still open
    (all loans when it moved back). Loans no longer disbursed by the as-of date leave the
    model afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['loan_id'], 'unique': True}],
        post_hook=[
            "{% if is_incremental() %}{{ remove_loans_no_longer_disbursed(by_as_of_date=true) }}
             {% else %}select 1{% endif %}",
        ],
    )
}}
-- (its clean-up post-hook reads them)
-- depends_on: {{ ref('stg_oltp__loans_versions') }}
with

daily_delinquency as (
    select * from {{ ref('int_loans__daily_delinquency') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

disbursed_loans as (
    select
        loan_id,
        cast(disbursed_at as date) as disbursed_date,
        cast({{ dbt.dateadd('day', 183, 'cast(disbursed_at as date)') }} as date)
            as label_window_end_date
    from loans
    where
        disbursed_at is not null
        and cast(disbursed_at as date) <= {{ as_of_date() }}
),

{% if is_incremental() %}
    computed as (
        select max(source_changed_at) as source_changed_at from {{ this }}
    ),

    restated_loans as (
        select distinct restated.loan_id
        from {{ ref('int_loans__daily_delinquency') }} as restated
        cross join computed
        where restated.source_changed_at > computed.source_changed_at
    ),

    loans_to_compute as {{ materialized_cte() }} (
        select disbursed_loans.*
        from disbursed_loans
        left join {{ this }} as computed_loans
            on disbursed_loans.loan_id = computed_loans.loan_id
        where
            computed_loans.loan_id is null
            or disbursed_loans.loan_id in (select restated_loans.loan_id from restated_loans)
            -- computed from rows that left the delinquency model (its window emptied)
            or (
                computed_loans.source_changed_at is not null
                and {{ in_small_set('disbursed_loans.loan_id', loans_with_empty_windows()) }}
            )
            or computed_loans.computed_as_of > {{ as_of_date() }}
            or (
                computed_loans.computed_as_of < {{ as_of_date() }}
                and not computed_loans.is_label_known
            )
    ),
{% else %}
    loans_to_compute as (
        select * from disbursed_loans
    ),
{% endif %}

worst_in_window as (
    select
        loans_to_compute.loan_id,
        max(daily_delinquency.days_past_due) as max_days_past_due,
        max(daily_delinquency.par60_amount) as max_par60_amount,
        max(daily_delinquency.source_changed_at) as source_changed_at
    from loans_to_compute
    inner join daily_delinquency
        on
            loans_to_compute.loan_id = daily_delinquency.loan_id
            and loans_to_compute.disbursed_date <= daily_delinquency.as_of_date
            and loans_to_compute.label_window_end_date >= daily_delinquency.as_of_date
    group by loans_to_compute.loan_id
),

final as (
    select
        loans_to_compute.loan_id,
        loans_to_compute.disbursed_date,
        loans_to_compute.label_window_end_date,
        loans_to_compute.label_window_end_date <= {{ as_of_date() }} as is_label_known,
        cast(coalesce(worst_in_window.max_days_past_due, 0) as integer)
            as max_days_past_due_in_window,
        case
            when loans_to_compute.label_window_end_date <= {{ as_of_date() }}
                then coalesce(worst_in_window.max_par60_amount, 0) > 0
        end as is_default_within_6_months,
        worst_in_window.source_changed_at,
        {{ as_of_date() }} as computed_as_of
    from loans_to_compute
    left join worst_in_window
        on loans_to_compute.loan_id = worst_in_window.loan_id
)

select * from final
