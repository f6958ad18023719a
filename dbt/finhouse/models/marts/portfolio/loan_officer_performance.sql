{#- docs/metrics.md "Delinquency and portfolio quality" (active loans and borrowers, GLP, PAR30)
    and "Collections and income" (**Caseload**), per loan officer x branch (the borrower's current
    branch) as of the as-of date, from loans_current and, for the PAR30 amount, the loans' figures
    of that day in int_loans__delinquency (where PAR is defined). Caseload is the branch's: active
    borrowers of the branch / active loan officers of the branch (officers of at least one active
    loan there). Disbursements of the last 30 days are those with a disbursement date in (as-of -
    30, as-of]. The on-time collection rate (docs/metrics.md "Collections and income") is the one of
    the last full month: the latest calendar month whose last day is on or before the as-of date.
    One row per officer and branch with at least one loan disbursed on or before the as-of date,
    with the branch's name and region from the branch file (as loans_current carries them). -#}
with

loans_current as (
    select * from {{ ref('loans_current') }}
),

collections_monthly as (
    select * from {{ ref('collections_monthly') }}
),

delinquency as (
    select * from {{ ref('int_loans__delinquency') }}
),

at_risk_as_of as (
    select
        loan_id,
        par30_amount
    from delinquency
    where as_of_date = {{ as_of_date() }}
),

last_full_month as (
    select
        cast(
            {{ dbt.dateadd(
                'month', -1,
                dbt.date_trunc('month', dbt.dateadd('day', 1, as_of_date()))
            ) }} as date
        ) as month_start
),

officer_portfolio as (
    select
        loans_current.loan_officer_id,
        loans_current.branch_code,
        loans_current.branch_name,
        loans_current.branch_region,
        count(case when loans_current.is_active then 1 end) as active_loans,
        count(distinct case when loans_current.is_active then loans_current.borrower_id end)
            as active_borrowers,
        sum(loans_current.outstanding_principal) as gross_loan_portfolio,
        coalesce(sum(at_risk_as_of.par30_amount), 0) as par30_amount,
        count(
            case
                when
                    cast(loans_current.disbursed_at as date)
                    > {{ dbt.dateadd('day', -30, as_of_date()) }}
                    then 1
            end
        ) as loans_disbursed_last_30_days,
        sum(
            case
                when
                    cast(loans_current.disbursed_at as date)
                    > {{ dbt.dateadd('day', -30, as_of_date()) }}
                    then loans_current.principal
                else 0
            end
        ) as disbursed_amount_last_30_days
    from loans_current
    left join at_risk_as_of on loans_current.loan_id = at_risk_as_of.loan_id
    group by
        loans_current.loan_officer_id,
        loans_current.branch_code,
        loans_current.branch_name,
        loans_current.branch_region
),

branch_caseload as (
    select
        branch_code,
        count(distinct case when is_active then borrower_id end) as branch_active_borrowers,
        count(distinct case when is_active then loan_officer_id end)
            as branch_active_loan_officers
    from loans_current
    group by branch_code
),

last_month_collections as (
    select
        collections_monthly.loan_officer_id,
        collections_monthly.branch_code,
        collections_monthly.month_start,
        collections_monthly.amount_due,
        collections_monthly.amount_paid_on_time,
        collections_monthly.on_time_collection_rate
    from collections_monthly
    inner join last_full_month
        on collections_monthly.month_start = last_full_month.month_start
),

combined as (
    select
        officer_portfolio.*,
        branch_caseload.branch_active_borrowers,
        branch_caseload.branch_active_loan_officers,
        last_full_month.month_start as collection_month_start,
        last_month_collections.amount_due as collection_amount_due,
        last_month_collections.amount_paid_on_time as collection_amount_paid_on_time,
        last_month_collections.on_time_collection_rate
    from officer_portfolio
    cross join last_full_month
    left join branch_caseload
        on officer_portfolio.branch_code = branch_caseload.branch_code
    left join last_month_collections
        on
            officer_portfolio.loan_officer_id = last_month_collections.loan_officer_id
            and officer_portfolio.branch_code = last_month_collections.branch_code
),

final as (
    select
        loan_officer_id,
        branch_code,
        branch_name,
        branch_region,
        cast(active_loans as bigint) as active_loans,
        cast(active_borrowers as bigint) as active_borrowers,
        cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
        cast(par30_amount as numeric(18, 2)) as par30_amount,
        cast(
            case when gross_loan_portfolio > 0 then par30_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par30_ratio,
        cast(loans_disbursed_last_30_days as bigint) as loans_disbursed_last_30_days,
        cast(disbursed_amount_last_30_days as numeric(18, 2))
            as disbursed_amount_last_30_days,
        cast(branch_active_borrowers as bigint) as branch_active_borrowers,
        cast(branch_active_loan_officers as bigint) as branch_active_loan_officers,
        cast(
            case
                when branch_active_loan_officers > 0
                    then
                        cast(branch_active_borrowers as numeric(38, 10))
                        / branch_active_loan_officers
            end as numeric(38, 10)
        ) as branch_caseload,
        collection_month_start,
        cast(collection_amount_due as numeric(18, 2)) as collection_amount_due,
        cast(collection_amount_paid_on_time as numeric(18, 2))
            as collection_amount_paid_on_time,
        cast(on_time_collection_rate as numeric(38, 10)) as on_time_collection_rate,
        {{ as_of_date() }} as as_of_date
    from combined
)

select * from final
