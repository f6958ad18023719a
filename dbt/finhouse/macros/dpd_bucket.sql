{#- kpis.md delinquency buckets: current (DPD 0), 1-30, 31-60, 61-90, 91-180, 181+. -#}
{% macro dpd_bucket(days_past_due) -%}
    case
        when {{ days_past_due }} <= 0 then 'current'
        when {{ days_past_due }} <= 30 then '1-30'
        when {{ days_past_due }} <= 60 then '31-60'
        when {{ days_past_due }} <= 90 then '61-90'
        when {{ days_past_due }} <= 180 then '91-180'
        else '181+'
    end
{%- endmacro %}
