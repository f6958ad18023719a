{#- contracts.md §4 / kpis.md: daily portfolio quality per branch (the borrower's current
    branch), product and loan officer, for every date from the combination's first
    disbursement to the as-of date. GLP = sum of outstanding principal of loans in the
    portfolio; PAR_X = outstanding principal of loans more than X days past due (the whole
    balance of a late loan counts); active loans have outstanding principal > 0. -#}
with

daily as (
    select * from {{ ref('int_loans__daily_delinquency') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

calendar as (
    select * from {{ ref('int_calendar__days') }}
),

loan_dimensions as (
    select
        loans.loan_id,
        loans.borrower_id,
        loans.loan_officer_id,
        loans.product,
        loans.principal,
        users.branch_code,
        cast(loans.disbursed_at as date) as disbursed_date
    from loans
    left join users on loans.borrower_id = users.user_id
    where loans.disbursed_at is not null and cast(loans.disbursed_at as date) <= {{ as_of_date() }}
),

combinations as (
    select
        branch_code,
        product,
        loan_officer_id,
        min(disbursed_date) as first_disbursed_date
    from loan_dimensions
    group by branch_code, product, loan_officer_id
),

spine as (
    select
        calendar.calendar_date as as_of_date,
        combinations.branch_code,
        combinations.product,
        combinations.loan_officer_id
    from combinations
    inner join calendar
        on calendar.calendar_date between combinations.first_disbursed_date and {{ as_of_date() }}
),

quality as (
    select
        daily.as_of_date,
        loan_dimensions.branch_code,
        loan_dimensions.product,
        loan_dimensions.loan_officer_id,
        count(case when daily.is_active then 1 end) as active_loans,
        count(distinct case when daily.is_active then loan_dimensions.borrower_id end)
            as active_borrowers,
        sum(daily.outstanding_principal) as gross_loan_portfolio,
        sum(case when daily.days_past_due > 1 then daily.outstanding_principal else 0 end)
            as par1_amount,
        sum(case when daily.days_past_due > 30 then daily.outstanding_principal else 0 end)
            as par30_amount,
        sum(case when daily.days_past_due > 60 then daily.outstanding_principal else 0 end)
            as par60_amount,
        sum(case when daily.days_past_due > 90 then daily.outstanding_principal else 0 end)
            as par90_amount,
        sum(case when daily.dpd_bucket = 'current' then daily.outstanding_principal else 0 end)
            as current_amount,
        sum(case when daily.dpd_bucket = '1-30' then daily.outstanding_principal else 0 end)
            as dpd_1_30_amount,
        sum(case when daily.dpd_bucket = '31-60' then daily.outstanding_principal else 0 end)
            as dpd_31_60_amount,
        sum(case when daily.dpd_bucket = '61-90' then daily.outstanding_principal else 0 end)
            as dpd_61_90_amount,
        sum(case when daily.dpd_bucket = '91-180' then daily.outstanding_principal else 0 end)
            as dpd_91_180_amount,
        sum(case when daily.dpd_bucket = '181+' then daily.outstanding_principal else 0 end)
            as dpd_181_plus_amount
    from daily
    inner join loan_dimensions on daily.loan_id = loan_dimensions.loan_id
    where daily.as_of_date <= {{ as_of_date() }}
    group by
        daily.as_of_date,
        loan_dimensions.branch_code,
        loan_dimensions.product,
        loan_dimensions.loan_officer_id
),

disbursements as (
    select
        disbursed_date as as_of_date,
        branch_code,
        product,
        loan_officer_id,
        count(*) as loans_disbursed,
        sum(principal) as disbursed_amount
    from loan_dimensions
    group by disbursed_date, branch_code, product, loan_officer_id
),

combined as (
    select
        spine.as_of_date,
        spine.branch_code,
        spine.product,
        spine.loan_officer_id,
        coalesce(quality.active_loans, 0) as active_loans,
        coalesce(quality.active_borrowers, 0) as active_borrowers,
        coalesce(quality.gross_loan_portfolio, 0) as gross_loan_portfolio,
        coalesce(quality.par1_amount, 0) as par1_amount,
        coalesce(quality.par30_amount, 0) as par30_amount,
        coalesce(quality.par60_amount, 0) as par60_amount,
        coalesce(quality.par90_amount, 0) as par90_amount,
        coalesce(quality.current_amount, 0) as current_amount,
        coalesce(quality.dpd_1_30_amount, 0) as dpd_1_30_amount,
        coalesce(quality.dpd_31_60_amount, 0) as dpd_31_60_amount,
        coalesce(quality.dpd_61_90_amount, 0) as dpd_61_90_amount,
        coalesce(quality.dpd_91_180_amount, 0) as dpd_91_180_amount,
        coalesce(quality.dpd_181_plus_amount, 0) as dpd_181_plus_amount,
        coalesce(disbursements.loans_disbursed, 0) as loans_disbursed,
        coalesce(disbursements.disbursed_amount, 0) as disbursed_amount
    from spine
    left join quality
        on
            spine.as_of_date = quality.as_of_date
            and spine.branch_code = quality.branch_code
            and spine.product = quality.product
            and spine.loan_officer_id = quality.loan_officer_id
    left join disbursements
        on
            spine.as_of_date = disbursements.as_of_date
            and spine.branch_code = disbursements.branch_code
            and spine.product = disbursements.product
            and spine.loan_officer_id = disbursements.loan_officer_id
),

final as (
    select
        as_of_date,
        branch_code,
        product,
        loan_officer_id,
        cast(active_loans as bigint) as active_loans,
        cast(active_borrowers as bigint) as active_borrowers,
        cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
        cast(par1_amount as numeric(18, 2)) as par1_amount,
        cast(par30_amount as numeric(18, 2)) as par30_amount,
        cast(par60_amount as numeric(18, 2)) as par60_amount,
        cast(par90_amount as numeric(18, 2)) as par90_amount,
        cast(
            case when gross_loan_portfolio > 0 then par1_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par1_ratio,
        cast(
            case when gross_loan_portfolio > 0 then par30_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par30_ratio,
        cast(
            case when gross_loan_portfolio > 0 then par60_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par60_ratio,
        cast(
            case when gross_loan_portfolio > 0 then par90_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par90_ratio,
        cast(current_amount as numeric(18, 2)) as current_amount,
        cast(dpd_1_30_amount as numeric(18, 2)) as dpd_1_30_amount,
        cast(dpd_31_60_amount as numeric(18, 2)) as dpd_31_60_amount,
        cast(dpd_61_90_amount as numeric(18, 2)) as dpd_61_90_amount,
        cast(dpd_91_180_amount as numeric(18, 2)) as dpd_91_180_amount,
        cast(dpd_181_plus_amount as numeric(18, 2)) as dpd_181_plus_amount,
        cast(loans_disbursed as bigint) as loans_disbursed,
        cast(disbursed_amount as numeric(18, 2)) as disbursed_amount,
        cast(
            case when loans_disbursed > 0 then round(disbursed_amount / loans_disbursed, 2) end
            as numeric(18, 2)
        ) as average_loan_size
    from combined
)

select * from final
