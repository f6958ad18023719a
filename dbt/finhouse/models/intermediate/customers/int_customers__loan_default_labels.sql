{#- The default label of every disbursed loan: did its days past due (kpis.md "Delinquency",
    int_loans__daily_delinquency) exceed 60 on any day from the disbursement date to 183 days
    after it (about 6 months)? Null while that window is not over at as_of_date, even if the
    loan already crossed 60 days: a label is only final when the whole window is known. -#}
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

worst_in_window as (
    select
        disbursed_loans.loan_id,
        max(daily_delinquency.days_past_due) as max_days_past_due
    from disbursed_loans
    inner join daily_delinquency
        on
            disbursed_loans.loan_id = daily_delinquency.loan_id
            and disbursed_loans.disbursed_date <= daily_delinquency.as_of_date
            and disbursed_loans.label_window_end_date >= daily_delinquency.as_of_date
    group by disbursed_loans.loan_id
),

final as (
    select
        disbursed_loans.loan_id,
        disbursed_loans.disbursed_date,
        disbursed_loans.label_window_end_date,
        disbursed_loans.label_window_end_date <= {{ as_of_date() }} as is_label_known,
        cast(coalesce(worst_in_window.max_days_past_due, 0) as integer)
            as max_days_past_due_in_window,
        case
            when disbursed_loans.label_window_end_date <= {{ as_of_date() }}
                then coalesce(worst_in_window.max_days_past_due, 0) > 60
        end as is_default_within_6_months
    from disbursed_loans
    left join worst_in_window
        on disbursed_loans.loan_id = worst_in_window.loan_id
)

select * from final
