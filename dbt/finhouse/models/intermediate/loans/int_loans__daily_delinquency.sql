{#- The rows of int_loans__delinquency (the definitions of docs/metrics.md "Delinquency and
    portfolio quality": days past due, DPD bucket, PAR amounts) for every day each loan is in
    the portfolio (disbursed on or before the day, neither closed nor written off on or before
    it), up to the as-of date, stored: the daily figures portfolio_daily, roll rates, vintages
    and the ML features and labels add up. Only the columns they read are stored (not the PAR
    flags: a loan is in PAR_X exactly when its PAR_X amount is positive).

    Incremental and restated: each run recomputes, for every day, every loan whose terms or
    payments changed in RAW since the loan was last computed (int_loans__source_changes: RAW's
    change time, however old the change), every loan whose portfolio window moved (a new
    as-of date, a closure or write-off), and every loan not computed yet. A reversed, late
    or newly completed payment therefore restates the whole history of its loan; loans that
    did not change are left alone. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['loan_id', 'as_of_date'], 'unique': True},
            {'columns': ['source_changed_at']},
        ],
        post_hook=[
            "{% if is_incremental() %}{{ remove_loans_no_longer_disbursed() }}
             {% else %}select 1{% endif %}",
            "{% if is_incremental() %}{{ remove_loans_with_empty_windows() }}
             {% else %}select 1{% endif %}",
        ],
    )
}}

-- (its clean-up post-hook reads them)
-- depends_on: {{ ref('stg_oltp__loans_versions') }}
with

delinquency as (
    select * from {{ ref('int_loans__delinquency') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

changes as (
    select * from {{ ref('int_loans__source_changes') }}
),

-- each loan's days in the portfolio (the window its rows cover)
portfolio_windows as (
    select
        loans.loan_id,
        cast(loans.disbursed_at as date) as first_day,
        least(
            {{ as_of_date() }},
            coalesce(
                cast({{ dbt.dateadd('day', -1, 'loans.closed_at') }} as date),
                {{ as_of_date() }}
            ),
            coalesce(
                cast({{ dbt.dateadd('day', -1, 'loans.written_off_at') }} as date),
                {{ as_of_date() }}
            )
        ) as last_day,
        changes.changed_at as source_changed_at
    from loans
    inner join changes on loans.loan_id = changes.loan_id
    where loans.disbursed_at is not null
),

{% if is_incremental() %}
    -- A loan is up to date when the model holds its row of the window's last day, computed
    -- from its current RAW change time, and no row after it (all rows of a loan are written
    -- together, with one source_changed_at): two lookups per loan in the model's
    -- (loan_id, as_of_date) index instead of a scan of every loan day.
    loans_to_compute as {{ materialized_cte() }} (
        select portfolio_windows.*
        from portfolio_windows
        left join {{ this }} as last_row
            on
                portfolio_windows.loan_id = last_row.loan_id
                and portfolio_windows.last_day = last_row.as_of_date
        left join {{ this }} as row_after
            on
                portfolio_windows.loan_id = row_after.loan_id
                and cast({{ dbt.dateadd('day', 1, 'portfolio_windows.last_day') }} as date)
                = row_after.as_of_date
        where
            last_row.loan_id is null
            or portfolio_windows.source_changed_at > last_row.source_changed_at
            or row_after.loan_id is not null
    ),
{% else %}
    loans_to_compute as (
        select * from portfolio_windows
    ),
{% endif %}

final as (
    select
        delinquency.loan_id,
        delinquency.as_of_date,
        delinquency.principal_paid,
        delinquency.outstanding_principal,
        delinquency.days_past_due,
        delinquency.dpd_bucket,
        delinquency.in_portfolio,
        delinquency.is_active,
        delinquency.par1_amount,
        delinquency.par30_amount,
        delinquency.par60_amount,
        delinquency.par90_amount,
        loans_to_compute.source_changed_at
    from loans_to_compute
    inner join delinquency
        on
            loans_to_compute.loan_id = delinquency.loan_id
            and loans_to_compute.first_day <= delinquency.as_of_date
            and loans_to_compute.last_day >= delinquency.as_of_date
)

select * from final
