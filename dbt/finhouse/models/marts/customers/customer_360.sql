{#- docs/metrics.md "Customers and concentration" (**Customer 360** and **Leverage**), one row per
    customer who joined on or before as_of_date. Balances are restated at as_of_date from the
    ledger; loans come from loans_current (docs/metrics.md "Delinquency and portfolio quality"); no
    direct PII (names, e-mail, phone, national id, date of birth) is carried.

    Segment (first rule that matches):
      premium         deposits + active investments' current value >= 10 000
      borrower_saver  an active loan and a positive deposit balance
      borrower        an active loan
      saver           a positive deposit balance or an active investment
      inactive        none of these -#}
with

users as (
    select * from {{ ref('stg_oltp__users') }}
),

account_balances as (
    select * from {{ ref('int_customers__account_balances_as_of') }}
),

loans_current as (
    select * from {{ ref('loans_current') }}
),

investments as (
    select * from {{ ref('stg_oltp__investments') }}
),

customers as (
    select
        user_id,
        branch_code,
        region,
        kyc_status,
        monthly_income,
        risk_appetite,
        is_active,
        cast(joined_at as date) as joined_date
    from users
    where
        user_role = 'customer'
        and cast(joined_at as date) <= {{ as_of_date() }}
),

deposits_per_customer as (
    select
        user_id,
        sum(case when is_open then 1 else 0 end) as open_accounts,
        sum(balance) as deposit_balance,
        sum(case when account_type = 'savings' then balance else 0 end) as savings_balance
    from account_balances
    group by user_id
),

loans_per_customer as (
    select
        borrower_id as user_id,
        count(*) as loans_ever,
        sum(case when is_active then 1 else 0 end) as active_loans,
        sum(outstanding_principal) as outstanding_principal,
        max(days_past_due) as worst_days_past_due
    from loans_current
    group by borrower_id
),

-- the DPD bucket of the customer's worst days past due: the bucket of the loan that has them
-- (a bucket follows from DPD alone, so loans tied on it share one)
worst_buckets as (
    select distinct
        loans_per_customer.user_id,
        loans_current.dpd_bucket as worst_dpd_bucket
    from loans_per_customer
    inner join loans_current
        on
            loans_per_customer.user_id = loans_current.borrower_id
            and loans_per_customer.worst_days_past_due = loans_current.days_past_due
),

investments_per_customer as (
    select
        user_id,
        count(*) as investments_ever,
        sum(case when investment_status = 'active' then 1 else 0 end) as active_investments,
        sum(
            case when investment_status = 'active' then current_value else 0 end
        ) as investments_value
    from investments
    where start_date <= {{ as_of_date() }}
    group by user_id
),

joined as (
    select
        customers.user_id,
        customers.branch_code,
        customers.region,
        customers.kyc_status,
        customers.is_active,
        customers.joined_date,
        customers.monthly_income,
        customers.risk_appetite,
        loans_per_customer.worst_days_past_due,
        worst_buckets.worst_dpd_bucket,
        coalesce(deposits_per_customer.open_accounts, 0) as open_accounts,
        coalesce(deposits_per_customer.deposit_balance, 0) as deposit_balance,
        coalesce(deposits_per_customer.savings_balance, 0) as savings_balance,
        coalesce(loans_per_customer.loans_ever, 0) as loans_ever,
        coalesce(loans_per_customer.active_loans, 0) as active_loans,
        coalesce(loans_per_customer.outstanding_principal, 0) as outstanding_principal,
        coalesce(investments_per_customer.investments_ever, 0) as investments_ever,
        coalesce(investments_per_customer.active_investments, 0) as active_investments,
        coalesce(investments_per_customer.investments_value, 0) as investments_value
    from customers
    left join deposits_per_customer
        on customers.user_id = deposits_per_customer.user_id
    left join loans_per_customer
        on customers.user_id = loans_per_customer.user_id
    left join worst_buckets
        on customers.user_id = worst_buckets.user_id
    left join investments_per_customer
        on customers.user_id = investments_per_customer.user_id
),

segmented as (
    select
        *,
        case
            when deposit_balance + investments_value >= 10000 then 'premium'
            when active_loans > 0 and deposit_balance > 0 then 'borrower_saver'
            when active_loans > 0 then 'borrower'
            when deposit_balance > 0 or active_investments > 0 then 'saver'
            else 'inactive'
        end as segment,
        case
            when monthly_income > 0 then outstanding_principal / (12 * monthly_income)
        end as leverage
    from joined
),

final as (
    select
        user_id,
        branch_code,
        region,
        segment,
        kyc_status,
        is_active,
        joined_date,
        cast(
            {{ dbt.datediff('joined_date', as_of_date(), 'day') }} as integer
        ) as tenure_days,
        cast(
            {{ dbt.datediff('joined_date', as_of_date(), 'month') }} as integer
        ) as tenure_months,
        cast(open_accounts as bigint) as open_accounts,
        cast(deposit_balance as numeric(38, 2)) as deposit_balance,
        cast(savings_balance as numeric(38, 2)) as savings_balance,
        cast(loans_ever as bigint) as loans_ever,
        cast(active_loans as bigint) as active_loans,
        cast(outstanding_principal as numeric(38, 2)) as outstanding_principal,
        cast(worst_days_past_due as integer) as worst_days_past_due,
        worst_dpd_bucket,
        cast(investments_ever as bigint) as investments_ever,
        cast(active_investments as bigint) as active_investments,
        cast(investments_value as numeric(38, 2)) as investments_value,
        cast(monthly_income as numeric(38, 2)) as monthly_income,
        risk_appetite,
        cast(leverage as numeric(38, 6)) as leverage,
        {{ as_of_date() }} as as_of_date
    from segmented
)

select * from final
