{#- Every RAW version of every loan (docs/interfaces.md §2), deleted ones included, renamed and
    cast once for stg_oltp__loans, the SCD2 history int_loans__history and the change
    detection of the incremental models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(id as bigint) as loan_id,
    cast(borrower_id as bigint) as borrower_id,
    cast(loan_officer_id as bigint) as loan_officer_id,
    cast(account_id as bigint) as account_id,
    product,
    cast(principal as numeric(18, 2)) as principal,
    cast(annual_interest_rate as numeric(7, 4)) as annual_interest_rate,
    interest_method,
    repayment_frequency,
    cast(installments as integer) as installments,
    cast(first_due_date as date) as first_due_date,
    status as loan_status,
    applied_at,
    approved_at,
    disbursed_at,
    closed_at,
    written_off_at,
    cast(written_off_amount as numeric(18, 2)) as written_off_amount,
    created_at,
    updated_at,
    {{ raw_version_times('loans') }}
from {{ source('oltp', 'loans') }}
{{ raw_cut_filter('loans') }}
