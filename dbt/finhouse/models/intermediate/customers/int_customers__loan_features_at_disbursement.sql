{#- Point-in-time features of every disbursed loan: only what was known at its disbursed_at.
    - borrower profile (branch, income, risk appetite, KYC): the users version valid at
      disbursed_at (int_users__history); null when RAW holds no version that old;
    - deposits: each account's last ledger balance strictly before disbursed_at (the loan's own
      disbursement credit, at disbursed_at, is excluded);
    - previous loans: disbursed strictly before disbursed_at; their delinquency from
      int_loans__daily_delinquency on days strictly before the disbursement date (end-of-day
      figures of finished days).
    The *_observed_at / *_through columns record the latest source time each feature used;
    tests/assert_ml_features_known_at_disbursement.sql proves they precede the disbursement. -#}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users_history as (
    select * from {{ ref('int_users__history') }}
),

accounts as (
    select * from {{ ref('stg_oltp__accounts') }}
),

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

daily_delinquency as (
    select * from {{ ref('int_loans__daily_delinquency') }}
),

disbursed_loans as (
    select
        loan_id,
        borrower_id,
        product,
        principal,
        annual_interest_rate,
        interest_method,
        repayment_frequency,
        installments,
        disbursed_at,
        cast(disbursed_at as date) as disbursed_date
    from loans
    where
        disbursed_at is not null
        and cast(disbursed_at as date) <= {{ as_of_date() }}
),

borrower_profiles as (
    select
        disbursed_loans.loan_id,
        users_history.branch_code,
        users_history.region,
        users_history.kyc_status,
        users_history.monthly_income,
        users_history.risk_appetite,
        users_history.joined_at,
        users_history.valid_from as profile_valid_from
    from disbursed_loans
    inner join users_history
        on
            disbursed_loans.borrower_id = users_history.user_id
            and disbursed_loans.disbursed_at >= users_history.valid_from
            and (
                users_history.valid_to is null
                or disbursed_loans.disbursed_at < users_history.valid_to
            )
),

borrower_ledger_before_disbursement as (
    select
        disbursed_loans.loan_id,
        accounts.account_id,
        accounts.account_type,
        transactions.balance_after,
        transactions.occurred_at,
        row_number() over (
            partition by disbursed_loans.loan_id, accounts.account_id
            order by transactions.occurred_at desc, transactions.transaction_id desc
        ) as movement_rank
    from disbursed_loans
    inner join accounts
        on disbursed_loans.borrower_id = accounts.user_id
    inner join transactions
        on
            accounts.account_id = transactions.account_id
            and disbursed_loans.disbursed_at > transactions.occurred_at
),

deposits_at_disbursement as (
    select
        loan_id,
        count(*) as funded_accounts,
        sum(balance_after) as deposit_balance,
        sum(
            case when account_type = 'savings' then balance_after else 0 end
        ) as savings_balance,
        max(occurred_at) as ledger_observed_through
    from borrower_ledger_before_disbursement
    where movement_rank = 1
    group by loan_id
),

previous_loans as (
    select
        disbursed_loans.loan_id,
        earlier_loans.loan_id as previous_loan_id,
        earlier_loans.disbursed_at as previous_disbursed_at,
        disbursed_loans.disbursed_date
    from disbursed_loans
    inner join disbursed_loans as earlier_loans
        on
            disbursed_loans.borrower_id = earlier_loans.borrower_id
            and disbursed_loans.disbursed_at > earlier_loans.disbursed_at
),

previous_loans_summary as (
    select
        loan_id,
        count(*) as previous_loans,
        max(previous_disbursed_at) as previous_loans_observed_through
    from previous_loans
    group by loan_id
),

previous_loans_delinquency as (
    select
        previous_loans.loan_id,
        max(daily_delinquency.days_past_due) as previous_loans_worst_dpd,
        sum(
            case
                when
                    daily_delinquency.as_of_date
                    = {{ dbt.dateadd('day', -1, 'previous_loans.disbursed_date') }}
                    and daily_delinquency.is_active
                    then 1
                else 0
            end
        ) as previous_loans_active,
        sum(
            case
                when
                    daily_delinquency.as_of_date
                    = {{ dbt.dateadd('day', -1, 'previous_loans.disbursed_date') }}
                    then daily_delinquency.outstanding_principal
                else 0
            end
        ) as previous_loans_outstanding,
        max(daily_delinquency.as_of_date) as delinquency_observed_through
    from previous_loans
    inner join daily_delinquency
        on
            previous_loans.previous_loan_id = daily_delinquency.loan_id
            and previous_loans.disbursed_date > daily_delinquency.as_of_date
    group by previous_loans.loan_id
),

final as (
    select
        disbursed_loans.loan_id,
        disbursed_loans.borrower_id,
        disbursed_loans.disbursed_at,
        disbursed_loans.disbursed_date,
        disbursed_loans.product,
        disbursed_loans.principal,
        disbursed_loans.annual_interest_rate,
        disbursed_loans.interest_method,
        disbursed_loans.repayment_frequency,
        disbursed_loans.installments,
        borrower_profiles.branch_code,
        borrower_profiles.region,
        borrower_profiles.kyc_status,
        borrower_profiles.monthly_income,
        borrower_profiles.risk_appetite,
        cast(
            {{ dbt.datediff('borrower_profiles.joined_at', 'disbursed_loans.disbursed_at', 'day') }}
            as integer
        ) as borrower_tenure_days,
        cast(coalesce(previous_loans_summary.previous_loans, 0) as integer) as previous_loans,
        cast(
            coalesce(previous_loans_delinquency.previous_loans_active, 0) as integer
        ) as previous_loans_active,
        cast(
            coalesce(previous_loans_delinquency.previous_loans_outstanding, 0)
            as numeric(18, 2)
        ) as previous_loans_outstanding,
        cast(previous_loans_delinquency.previous_loans_worst_dpd as integer)
            as previous_loans_worst_dpd,
        cast(
            coalesce(deposits_at_disbursement.funded_accounts, 0) as integer
        ) as funded_accounts,
        cast(
            coalesce(deposits_at_disbursement.deposit_balance, 0) as numeric(18, 2)
        ) as deposit_balance,
        cast(
            coalesce(deposits_at_disbursement.savings_balance, 0) as numeric(18, 2)
        ) as savings_balance,
        borrower_profiles.profile_valid_from,
        borrower_profiles.joined_at as borrower_joined_at,
        deposits_at_disbursement.ledger_observed_through,
        previous_loans_summary.previous_loans_observed_through,
        previous_loans_delinquency.delinquency_observed_through
    from disbursed_loans
    left join borrower_profiles
        on disbursed_loans.loan_id = borrower_profiles.loan_id
    left join deposits_at_disbursement
        on disbursed_loans.loan_id = deposits_at_disbursement.loan_id
    left join previous_loans_summary
        on disbursed_loans.loan_id = previous_loans_summary.loan_id
    left join previous_loans_delinquency
        on disbursed_loans.loan_id = previous_loans_delinquency.loan_id
)

select * from final
