{#- remove_segment_days_out_of_span (macros/incremental_cleanup.sql) on PostgreSQL: the
    segments the model holds are listed by a skip scan of its (branch_code, product,
    loan_officer_id, as_of_date) index, their first and last days by index probes,
    and only segments with days out of span (usually none) are deleted from, instead of a
    scan of every segment day on every run. -#}
{% macro postgres__remove_segment_days_out_of_span() -%}
    {%- set keys = ['branch_code', 'product', 'loan_officer_id'] -%}
    {%- set same_segment -%}
        {%- for key in keys %}{{ 'and ' if not loop.first }}held.{{ key }} = segments.{{ key }} {% endfor -%}
    {%- endset -%}
    with recursive held_segments as (
        (
            select branch_code, product, loan_officer_id from {{ this }}
            order by branch_code, product, loan_officer_id
            limit 1
        )
        union all
        select next_segment.*
        from held_segments as segments
        cross join lateral (
            select held.branch_code, held.product, held.loan_officer_id
            from {{ this }} as held
            where
                (held.branch_code, held.product, held.loan_officer_id)
                > (segments.branch_code, segments.product, segments.loan_officer_id)
            order by held.branch_code, held.product, held.loan_officer_id
            limit 1
        ) as next_segment
    ),

    spans as (
        {{ segment_spans() }}
    ),

    out_of_span as (
        select
            segments.branch_code,
            segments.product,
            segments.loan_officer_id,
            spans.first_day
        from held_segments as segments
        left join spans
            on
                segments.branch_code = spans.branch_code
                and segments.product = spans.product
                and segments.loan_officer_id = spans.loan_officer_id
        where
            spans.first_day is null
            or (select min(held.as_of_date) from {{ this }} as held where {{ same_segment }})
            < spans.first_day
            or (select max(held.as_of_date) from {{ this }} as held where {{ same_segment }})
            > {{ as_of_date() }}
    )

    delete from {{ this }}
    using out_of_span
    where
        {{ this }}.branch_code = out_of_span.branch_code
        and {{ this }}.product = out_of_span.product
        and {{ this }}.loan_officer_id = out_of_span.loan_officer_id
        and (
            out_of_span.first_day is null
            or {{ this }}.as_of_date < out_of_span.first_day
            or {{ this }}.as_of_date > {{ as_of_date() }}
        )
{%- endmacro %}
