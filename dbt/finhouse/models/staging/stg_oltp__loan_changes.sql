{#- When each loan's inputs last changed in RAW (contracts.md §2: a row's change time is
    greatest(_loaded_at, _deleted_at)), over every version of the loan and of its payments,
    deleted ones included. Incremental models recompute a loan when this moves. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (dbt/finhouse/README.md, "Views").
select
    cast(all_versions.loan_id as bigint) as loan_id,
    max(
        case
            when
                all_versions._deleted_at is not null
                and all_versions._deleted_at > all_versions._loaded_at
                then all_versions._deleted_at
            else all_versions._loaded_at
        end
    ) as changed_at
from (
    select
        loan_versions.id as loan_id,
        loan_versions._loaded_at,
        loan_versions._deleted_at
    from {{ source('oltp', 'loans') }} as loan_versions
    union all
    select
        payment_versions.loan_id,
        payment_versions._loaded_at,
        payment_versions._deleted_at
    from {{ source('oltp', 'payments') }} as payment_versions
) as all_versions
group by all_versions.loan_id
