{#- docs/metrics.md "Provisioning and risk coverage" - the provisioning schedule applied: per month
    x branch x DPD bucket, the loans in the portfolio at the month's end (period_end_date: the
    last day of the month, the as-of date for the as-of month), their outstanding principal, the
    bucket's rate and the provision (the sum of the loans' provisions, each rounded to cents, in
    loan_provisions_monthly). Every bucket of the provisioning_rates seed has a row for every
    branch and month of write_offs_monthly (from the branch's first disbursement month to the
    as-of month), zero when no loan is in it. -#}
with

loan_provisions as (
    select * from {{ ref('loan_provisions_monthly') }}
),

branch_months as (
    select * from {{ ref('write_offs_monthly') }}
),

rates as (
    select * from {{ ref('provisioning_rates') }}
),

bucket_totals as (
    select
        month_start,
        branch_code,
        dpd_bucket,
        count(*) as loans,
        sum(outstanding_principal) as outstanding_principal,
        sum(provision_amount) as provision_amount
    from loan_provisions
    group by month_start, branch_code, dpd_bucket
),

final as (
    select
        branch_months.month_start,
        branch_months.branch_code,
        branch_months.period_end_date,
        rates.dpd_bucket,
        cast(rates.bucket_order as integer) as bucket_order,
        rates.provision_rate,
        cast(coalesce(bucket_totals.loans, 0) as bigint) as loans,
        cast(coalesce(bucket_totals.outstanding_principal, 0) as numeric(18, 2))
            as outstanding_principal,
        cast(coalesce(bucket_totals.provision_amount, 0) as numeric(18, 2)) as provision_amount,
        {{ as_of_date() }} as as_of_date
    from branch_months
    cross join rates
    left join bucket_totals
        on
            branch_months.month_start = bucket_totals.month_start
            and branch_months.branch_code = bucket_totals.branch_code
            and rates.dpd_bucket = bucket_totals.dpd_bucket
)

select * from final
