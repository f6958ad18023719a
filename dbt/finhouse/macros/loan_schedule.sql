{#- The repayment schedule derived from loan terms, exactly as docs/metrics.md "Repayment
    schedule" defines it; one implementation used by int_loans__schedule and by the
    golden-vector test.

    `terms` is a relation or subquery with: loan_id, principal, annual_interest_rate,
    interest_method, repayment_frequency, installments, first_due_date.
    Returns: loan_id, installment_no, due_date, principal_due, interest_due,
    outstanding_before.

    Rounding to cents (round(x, 2): half away from zero on PostgreSQL numeric and Snowflake
    NUMBER) happens at each step: the annuity payment, each interest part, each flat
    principal part; interest is computed on the rounded outstanding; the last installment
    takes whatever principal remains. The periodic rate keeps 24 decimals. -#}
{% macro loan_schedule(terms) -%}
    with recursive

    schedule_terms as (
        select
            loan_id,
            cast(principal as numeric(38, 2)) as principal,
            interest_method,
            repayment_frequency,
            installments,
            first_due_date,
            cast(annual_interest_rate as numeric(38, 10)) as annual_rate,
            case when repayment_frequency = 'weekly' then 52 else 12 end as periods,
            cast(
                cast(annual_interest_rate as numeric(38, 24))
                / case when repayment_frequency = 'weekly' then 52 else 12 end
                as numeric(38, 24)
            ) as periodic_rate
        from {{ terms }}
        where first_due_date is not null and installments > 0
    ),

    schedule_amounts as (
        select
            *,
            case
                when interest_method = 'flat'
                    then round({{ decimal_quotient('principal', 'installments') }}, 2)
                when periodic_rate = 0
                    then round({{ decimal_quotient('principal', 'installments') }}, 2)
                else round(
                    principal * periodic_rate
                    / (1 - power(1 + periodic_rate, -installments)),
                    2
                )
            end as installment_amount,
            cast(round({{ decimal_quotient('principal * annual_rate', 'periods') }}, 2) as numeric(38, 2))
                as flat_interest
        from schedule_terms
    ),

    installments_recursive as (
        select
            loan_id,
            1 as installment_no,
            installments,
            interest_method,
            periodic_rate,
            annual_rate,
            periods,
            installment_amount,
            flat_interest,
            cast(principal as numeric(38, 2)) as outstanding_before,
            cast(case
                when interest_method = 'flat' then flat_interest
                else round({{ decimal_quotient('annual_rate * principal', 'periods') }}, 2)
            end as numeric(38, 2)) as interest_due,
            cast(case
                when installments = 1 then principal
                when interest_method = 'flat' then installment_amount
                else installment_amount
                    - round({{ decimal_quotient('annual_rate * principal', 'periods') }}, 2)
            end as numeric(38, 2)) as principal_due
        from schedule_amounts

        union all

        select
            prev.loan_id,
            prev.installment_no + 1 as installment_no,
            prev.installments,
            prev.interest_method,
            prev.periodic_rate,
            prev.annual_rate,
            prev.periods,
            prev.installment_amount,
            prev.flat_interest,
            cast(prev.outstanding_before - prev.principal_due as numeric(38, 2))
                as outstanding_before,
            cast(case
                when prev.interest_method = 'flat' then prev.flat_interest
                else round({{ decimal_quotient(
                    'prev.annual_rate * (prev.outstanding_before - prev.principal_due)',
                    'prev.periods') }}, 2)
            end as numeric(38, 2)) as interest_due,
            cast(case
                when prev.installment_no + 1 = prev.installments
                    then prev.outstanding_before - prev.principal_due
                when prev.interest_method = 'flat' then prev.installment_amount
                else prev.installment_amount
                    - round({{ decimal_quotient(
                    'prev.annual_rate * (prev.outstanding_before - prev.principal_due)',
                    'prev.periods') }}, 2)
            end as numeric(38, 2)) as principal_due
        from installments_recursive as prev
        where prev.installment_no < prev.installments
    )

    select
        installments_recursive.loan_id,
        installments_recursive.installment_no,
        cast(
            case
                when schedule_terms.repayment_frequency = 'weekly'
                    then {{ dbt.dateadd('day', '7 * (installments_recursive.installment_no - 1)',
                                        'schedule_terms.first_due_date') }}
                else {{ dbt.dateadd('month', 'installments_recursive.installment_no - 1',
                                    'schedule_terms.first_due_date') }}
            end as date
        ) as due_date,
        cast(installments_recursive.principal_due as numeric(18, 2)) as principal_due,
        cast(installments_recursive.interest_due as numeric(18, 2)) as interest_due,
        cast(installments_recursive.outstanding_before as numeric(18, 2)) as outstanding_before
    from installments_recursive
    inner join schedule_terms
        on installments_recursive.loan_id = schedule_terms.loan_id
{%- endmacro %}

{#- numerator / denominator, exact decimal division on PostgreSQL and Snowflake (the
    emulator's DuckDB divides decimals as DOUBLE: macros/emulator/ overrides it there). -#}
{% macro decimal_quotient(numerator, denominator) -%}
    {{ return(adapter.dispatch('decimal_quotient', 'finhouse')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__decimal_quotient(numerator, denominator) -%}
    ({{ numerator }}) / ({{ denominator }})
{%- endmacro %}
