{#- Point-in-time features of every disbursed loan: only what was known at its disbursed_at.
    - borrower profile (branch, income, risk appetite, KYC): the users version valid at
      disbursed_at (int_users__history); null when RAW holds no version that old;
    - deposits: each account's last ledger balance strictly before disbursed_at (the loan's own
      disbursement credit, at disbursed_at, is excluded);
    - previous loans: disbursed strictly before disbursed_at; their delinquency from
      int_loans__daily_delinquency on days strictly before the disbursement date (end-of-day
      figures of finished days).
    The *_observed_at / *_through columns record the latest source time each feature used;
    tests/assert_ml_features_known_at_disbursement.sql proves they precede the disbursement.

    Incremental per borrower: a run recomputes every loan of each borrower whose inputs
    changed in RAW since the last run (docs/interfaces.md §2 change time, deletions included: the
    borrower's user row, the accounts they hold or held and those accounts' ledger, their
    loans and payments, which carry the previous loans' delinquency), and every loan not
    computed yet; inputs_changed_at records the RAW change time the run saw. Loans no longer
    disbursed by the as-of date leave the model afterwards. -#}
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

-- every RAW row of each input, with loaded_at and deleted_at (read more than once: never
-- materialized, so that each use reaches RAW's _loaded_at and _deleted_at indexes)
user_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__users_versions') }}
),

account_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__accounts_versions') }}
),

ledger_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__transactions_versions') }}
),

loan_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__loans_versions') }}
),

payment_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__payments_versions') }}
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

-- the latest RAW change time of every input (a row's change time: greatest(_loaded_at,
-- _deleted_at)), from each table's indexes; an incremental run compares it with the one its
-- predecessor saw
raw_change_times as (
    {%- for versions in [
        'user_versions', 'account_versions', 'ledger_versions', 'loan_versions',
        'payment_versions',
    ] %}
        select {{ raw_changed_at(versions) }} as changed_at
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

inputs_watermark as (
    select max(changed_at) as inputs_changed_at from raw_change_times
),

{% if is_incremental() %}
    computed as (
        select max(inputs_changed_at) as inputs_changed_at from {{ this }}
    ),

    changed_accounts as (
        select account_versions.account_id
        from account_versions
        cross join computed
        where {{ raw_changed_since('account_versions', 'computed.inputs_changed_at') }}
        union
        select ledger_versions.account_id
        from ledger_versions
        cross join computed
        where {{ raw_changed_since('ledger_versions', 'computed.inputs_changed_at') }}
    ),

    changed_loans as (
        select loan_versions.loan_id
        from loan_versions
        cross join computed
        where {{ raw_changed_since('loan_versions', 'computed.inputs_changed_at') }}
        union
        select payment_versions.loan_id
        from payment_versions
        cross join computed
        where {{ raw_changed_since('payment_versions', 'computed.inputs_changed_at') }}
    ),

    -- every holder an account or loan ever had in RAW: a change can move it between borrowers
    changed_borrowers as (
        select user_versions.user_id as borrower_id
        from user_versions
        cross join computed
        where {{ raw_changed_since('user_versions', 'computed.inputs_changed_at') }}
        union
        select account_versions.user_id as borrower_id
        from account_versions
        inner join changed_accounts on account_versions.account_id = changed_accounts.account_id
        union
        select loan_versions.borrower_id
        from loan_versions
        inner join changed_loans on loan_versions.loan_id = changed_loans.loan_id
    ),

    loans_to_compute as {{ materialized_cte() }} (
        select disbursed_loans.*
        from disbursed_loans
        where
            disbursed_loans.borrower_id in (
                select changed_borrowers.borrower_id from changed_borrowers
            )
            or not exists (
                select 1 from {{ this }} as computed_loans
                where computed_loans.loan_id = disbursed_loans.loan_id
            )
    ),
{% else %}
    loans_to_compute as (
        select * from disbursed_loans
    ),
{% endif %}

borrower_profiles as (
    select
        loans_to_compute.loan_id,
        users_history.branch_code,
        users_history.region,
        users_history.kyc_status,
        users_history.monthly_income,
        users_history.risk_appetite,
        users_history.joined_at,
        users_history.valid_from as profile_valid_from
    from loans_to_compute
    inner join users_history
        on
            loans_to_compute.borrower_id = users_history.user_id
            and loans_to_compute.disbursed_at >= users_history.valid_from
            and (
                users_history.valid_to is null
                or loans_to_compute.disbursed_at < users_history.valid_to
            )
),

borrower_ledger_before_disbursement as (
    select
        loans_to_compute.loan_id,
        accounts.account_id,
        accounts.account_type,
        transactions.balance_after,
        transactions.occurred_at,
        row_number() over (
            partition by loans_to_compute.loan_id, accounts.account_id
            order by transactions.occurred_at desc, transactions.transaction_id desc
        ) as movement_rank
    from loans_to_compute
    inner join accounts
        on loans_to_compute.borrower_id = accounts.user_id
    inner join transactions
        on
            accounts.account_id = transactions.account_id
            and loans_to_compute.disbursed_at > transactions.occurred_at
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
        loans_to_compute.loan_id,
        earlier_loans.loan_id as previous_loan_id,
        earlier_loans.disbursed_at as previous_disbursed_at,
        loans_to_compute.disbursed_date
    from loans_to_compute
    inner join disbursed_loans as earlier_loans
        on
            loans_to_compute.borrower_id = earlier_loans.borrower_id
            and loans_to_compute.disbursed_at > earlier_loans.disbursed_at
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
        loans_to_compute.loan_id,
        loans_to_compute.borrower_id,
        loans_to_compute.disbursed_at,
        loans_to_compute.disbursed_date,
        loans_to_compute.product,
        loans_to_compute.principal,
        loans_to_compute.annual_interest_rate,
        loans_to_compute.interest_method,
        loans_to_compute.repayment_frequency,
        loans_to_compute.installments,
        borrower_profiles.branch_code,
        borrower_profiles.region,
        borrower_profiles.kyc_status,
        borrower_profiles.monthly_income,
        borrower_profiles.risk_appetite,
        cast(
            {{ dbt.datediff(
                'borrower_profiles.joined_at', 'loans_to_compute.disbursed_at', 'day'
            ) }}
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
        previous_loans_delinquency.delinquency_observed_through,
        inputs_watermark.inputs_changed_at
    from loans_to_compute
    cross join inputs_watermark
    left join borrower_profiles
        on loans_to_compute.loan_id = borrower_profiles.loan_id
    left join deposits_at_disbursement
        on loans_to_compute.loan_id = deposits_at_disbursement.loan_id
    left join previous_loans_summary
        on loans_to_compute.loan_id = previous_loans_summary.loan_id
    left join previous_loans_delinquency
        on loans_to_compute.loan_id = previous_loans_delinquency.loan_id
)

select * from final
