{#- When each loan's inputs last changed in RAW (docs/interfaces.md §2: a row's change time is
    greatest(_loaded_at, _deleted_at)), over every version of the loan and of its payments,
    deleted ones included, and whether its current version is disbursed. The per-loan
    incremental models recompute a loan when its change time moves, and a disbursed loan
    they hold no rows of (only disbursed loans have rows; the rejected, pending and approved
    ones, a tenth of all loans, would otherwise be recomputed, to no rows, on every run);
    a table built once per run, read by index, rather than a view every one of them
    aggregates again.

    Built before the models that read it, it may trail RAW by the loads committed during
    the run: a loan they compute from such a load keeps the older change time, so the next
    run computes it once more (never less). -#}
{{
    config(
        materialized='table',
        indexes=[{'columns': ['loan_id'], 'unique': True}],
    )
}}

with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

loan_versions as (
    select * from {{ ref('stg_oltp__loans_versions') }}
),

payment_versions as (
    select * from {{ ref('stg_oltp__payments_versions') }}
),

-- every version of the loan and of its payments, with its change time
all_versions as (
    select
        loan_id,
        changed_at
    from loan_versions
    union all
    select
        loan_id,
        changed_at
    from payment_versions
),

changes as (
    select
        loan_id,
        max(changed_at) as changed_at
    from all_versions
    group by loan_id
),

final as (
    select
        changes.loan_id,
        changes.changed_at,
        coalesce(loans.disbursed_at is not null, false) as is_disbursed
    from changes
    left join loans on changes.loan_id = loans.loan_id
)

select * from final
