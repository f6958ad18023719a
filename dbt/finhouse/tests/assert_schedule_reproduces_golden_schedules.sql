{#- The schedule rules (docs/metrics.md "Repayment schedule") reproduce the test vectors of
    seeds/golden_schedules.csv to the cent: every row that differs or is missing on either
    side fails the test. -#}
with

-- the seed's columns are quoted (quote_columns: its first is named `case`)
golden as (
    select
        {{ adapter.quote('case') }} as case_no,
        {{ adapter.quote('principal') }} as principal,
        {{ adapter.quote('annual_interest_rate') }} as annual_interest_rate,
        {{ adapter.quote('interest_method') }} as interest_method,
        {{ adapter.quote('repayment_frequency') }} as repayment_frequency,
        {{ adapter.quote('installments') }} as installments,
        {{ adapter.quote('first_due_date') }} as first_due_date,
        {{ adapter.quote('installment_no') }} as installment_no,
        {{ adapter.quote('due_date') }} as due_date,
        {{ adapter.quote('principal_due') }} as principal_due,
        {{ adapter.quote('interest_due') }} as interest_due
    from {{ ref('golden_schedules') }}
),

golden_terms as (
    select distinct
        case_no as loan_id,
        principal,
        annual_interest_rate,
        interest_method,
        repayment_frequency,
        installments,
        first_due_date
    from golden
),

computed as (
    {{ loan_schedule('golden_terms') }}
),

differences as (
    select
        golden.due_date as expected_due_date,
        computed.due_date as computed_due_date,
        golden.principal_due as expected_principal,
        computed.principal_due as computed_principal,
        golden.interest_due as expected_interest,
        computed.interest_due as computed_interest,
        coalesce(golden.case_no, computed.loan_id) as golden_case,
        coalesce(golden.installment_no, computed.installment_no) as installment_no
    from golden
    full outer join computed
        on
            golden.case_no = computed.loan_id
            and golden.installment_no = computed.installment_no
    where
        golden.case_no is null
        or computed.loan_id is null
        or golden.due_date <> computed.due_date
        or golden.principal_due <> computed.principal_due
        or golden.interest_due <> computed.interest_due
)

select * from differences
