{#- SCD type 2 history of loans from every RAW version (so history exists from the first
    load): one row per version, in the order the loads saw them (_loaded_at, then updated_at:
    the source's commit order, contracts.md §2 — never the application's clock alone). A
    version is valid from its updated_at, or from the previous version's start when its stamp
    is older (an app clock behind, a save that waited on a lock: the later-loaded version
    still wins from then on), to the next version's start. The latest version is open-ended,
    or ends at its deletion time when the key was deleted. -#}
with

loans_versions as (
    select * from {{ ref('stg_oltp__loans_versions') }}
),

versions_in_load_order as (
    select
        *,
        row_number() over (
            partition by loan_id order by loaded_at asc, updated_at asc
        ) as version_number,
        max(coalesce(updated_at, loaded_at)) over (
            partition by loan_id order by loaded_at asc, updated_at asc
            rows between unbounded preceding and current row
        ) as version_valid_from
    from loans_versions
),

versions_in_order as (
    select
        *,
        lead(version_valid_from) over (
            partition by loan_id order by version_number asc
        ) as next_version_updated_at
    from versions_in_load_order
),

final as (
    select
        {{ surrogate_key(['loan_id', 'updated_at']) }} as loan_version_key,
        loan_id,
        borrower_id,
        loan_officer_id,
        account_id,
        product,
        principal,
        annual_interest_rate,
        interest_method,
        repayment_frequency,
        installments,
        first_due_date,
        loan_status,
        applied_at,
        approved_at,
        disbursed_at,
        closed_at,
        written_off_at,
        written_off_amount,
        created_at,
        version_number,
        version_valid_from as valid_from,
        coalesce(next_version_updated_at, deleted_at) as valid_to,
        next_version_updated_at is null as is_latest_version,
        (next_version_updated_at is null and deleted_at is null) as is_current,
        deleted_at is not null as is_deleted,
        updated_at,
        loaded_at,
        deleted_at
    from versions_in_order
)

select * from final
