{#- The delinquency figures of every disbursed loan on every day from its disbursement to the
    as-of date, defined here and nowhere else (docs/metrics.md "Delinquency and portfolio
    quality", after CGAP's Microfinance Consensus Guidelines and SEEP's Microfinance
    Financial Reporting Standards). Every mart reporting days past due, DPD buckets, PAR or
    its amounts, roll rates or vintages reads them from here: directly at the as-of date
    (loans_current, loan_officer_performance), or through the rows stored for the days a
    loan is in the portfolio (int_loans__daily_delinquency -> int_portfolio__segment_days ->
    portfolio_daily; -> int_loans__month_boundary_days -> roll_rates_monthly, vintage_curves;
    -> the ML features and default labels).

    - Principal paid by the day: completed payments, oldest installments first
      (int_loans__repayment_steps, which also carries the loan's principal and dates).
    - In the portfolio: disbursed on or before the day, neither closed nor written off on or
      before it.
    - Outstanding principal: principal - principal paid (never below 0) while in the
      portfolio; 0 otherwise.
    - Days past due (DPD): the day - the due date of the earliest installment not covered by
      the principal paid, when that date is before the day; 0 otherwise. It is defined for
      every loan: a loan written off keeps aging (with no outstanding principal).
    - DPD bucket: current (0), 1-30, 31-60, 61-90, 91-180, 181+.
    - Active: in the portfolio with outstanding principal > 0.
    - PAR_X flag and amount (X = 1, 30, 60, 90): a loan more than X days past due (a loan
      exactly X days late is not in PAR_X) puts its whole outstanding principal at risk.
      PAR_X ratio = sum of PAR_X amounts / GLP (sum of outstanding principal) of the same
      loans, computed by the marts at their grain.

    A view, one SELECT without WITH: PostgreSQL inlines it into its readers
    (docs/transformation.md, "Views without WITH"), so a reader's days and loans reach the
    calendar and the repayment steps underneath (a mart reading one day computes that day
    only). It reads the steps and the calendar alone: the loan's dates come with its steps,
    so laying a loan on its days compares dates, with no second pass over the loans. -#}
{{ config(materialized='view') }}

select
    measured.loan_id,
    measured.as_of_date,
    measured.in_portfolio,
    cast(measured.principal_paid as numeric(18, 2)) as principal_paid,
    cast(measured.outstanding_principal as numeric(18, 2)) as outstanding_principal,
    cast(measured.days_past_due as integer) as days_past_due,
    cast(
        case when measured.days_past_due > 1 then measured.outstanding_principal else 0 end
        as numeric(18, 2)
    ) as par1_amount,
    cast(
        case when measured.days_past_due > 30 then measured.outstanding_principal else 0 end
        as numeric(18, 2)
    ) as par30_amount,
    cast(
        case when measured.days_past_due > 60 then measured.outstanding_principal else 0 end
        as numeric(18, 2)
    ) as par60_amount,
    cast(
        case when measured.days_past_due > 90 then measured.outstanding_principal else 0 end
        as numeric(18, 2)
    ) as par90_amount,
    case
        when measured.days_past_due <= 0 then 'current'
        when measured.days_past_due <= 30 then '1-30'
        when measured.days_past_due <= 60 then '31-60'
        when measured.days_past_due <= 90 then '61-90'
        when measured.days_past_due <= 180 then '91-180'
        else '181+'
    end as dpd_bucket,
    measured.in_portfolio and measured.outstanding_principal > 0 as is_active,
    measured.outstanding_principal > 0 and measured.days_past_due > 1 as is_par1,
    measured.outstanding_principal > 0 and measured.days_past_due > 30 as is_par30,
    measured.outstanding_principal > 0 and measured.days_past_due > 60 as is_par60,
    measured.outstanding_principal > 0 and measured.days_past_due > 90 as is_par90
from (
    select
        loan_days.loan_id,
        loan_days.as_of_date,
        loan_days.principal_paid,
        loan_days.in_portfolio,
        case
            when loan_days.in_portfolio and loan_days.principal > loan_days.principal_paid
                then loan_days.principal - loan_days.principal_paid
            else 0
        end as outstanding_principal,
        case
            when loan_days.first_unpaid_due_date < loan_days.as_of_date
                then {{ dbt.datediff(
                    'loan_days.first_unpaid_due_date', 'loan_days.as_of_date', 'day'
                ) }}
            else 0
        end as days_past_due
    from (
        select
            steps.loan_id,
            calendar.calendar_date as as_of_date,
            steps.principal,
            steps.principal_paid_to_date as principal_paid,
            steps.first_unpaid_due_date,
            (steps.closed_date is null or steps.closed_date > calendar.calendar_date)
            and (
                steps.written_off_date is null or steps.written_off_date > calendar.calendar_date
            ) as in_portfolio
        from {{ ref('int_loans__repayment_steps') }} as steps
        inner join {{ ref('int_calendar__days') }} as calendar
            on
                steps.step_date <= calendar.calendar_date
                and (steps.next_step_date is null or steps.next_step_date > calendar.calendar_date)
                and steps.disbursed_date <= calendar.calendar_date
    ) as loan_days
) as measured
