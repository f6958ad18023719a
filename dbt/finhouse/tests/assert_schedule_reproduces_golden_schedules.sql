{#- The schedule rules reproduce ../shared/design/golden_schedules.csv (seeded as
    golden_schedules) to the cent: every row that differs or is missing on either side
    fails the test. -#}
with

golden as (
    select * from {{ ref('golden_schedules') }}
),

golden_terms as (
    select distinct
        "case" as loan_id,
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
        coalesce(golden."case", computed.loan_id) as golden_case,
        coalesce(golden.installment_no, computed.installment_no) as installment_no
    from golden
    full outer join computed
        on
            golden."case" = computed.loan_id
            and golden.installment_no = computed.installment_no
    where
        golden."case" is null
        or computed.loan_id is null
        or golden.due_date <> computed.due_date
        or golden.principal_due <> computed.principal_due
        or golden.interest_due <> computed.interest_due
)

select * from differences
