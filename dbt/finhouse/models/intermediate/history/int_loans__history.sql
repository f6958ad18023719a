{#- SCD type 2 history of loans: one row per RAW version in load order (the rule and the
    validity columns: macros/scd2_in_load_order.sql). -#}
with

versions_in_order as (
    {{ scd2_in_load_order(ref('stg_oltp__loans_versions'), 'loan_id') }}
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
        valid_from,
        valid_to,
        is_latest_version,
        is_current,
        is_deleted,
        updated_at,
        loaded_at,
        deleted_at
    from versions_in_order
)

select * from final
