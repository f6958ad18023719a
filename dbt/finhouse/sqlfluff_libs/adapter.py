"""Stand-in for dbt's ``adapter`` in sqlfluff's jinja templater: ``adapter.dispatch(...)``
returns a macro that renders the portable (``default__``) SQL of a dispatched macro that is
part of an expression, and nothing for every other one (hooks, optional keywords);
``adapter.quote(...)`` quotes."""

#: dispatched macros rendered inside an expression: their default__ form, so that the
#: statement around them parses
EXPRESSIONS = {
    "in_small_set": lambda column, subquery: f"{column} in ({subquery})",
    "decimal_quotient": lambda numerator, denominator: f"({numerator}) / ({denominator})",
    "timestamp_tz_type": lambda: "timestamp with time zone",
}


def dispatch(macro_name, macro_namespace=None):  # noqa: ARG001 - dbt's signature
    if macro_name in EXPRESSIONS:
        return EXPRESSIONS[macro_name]

    def stand_in(*args, **kwargs):  # noqa: ARG001
        return ""

    return stand_in


def quote(identifier):
    """``adapter.quote(name)``: the name in double quotes, as on PostgreSQL."""
    return f'"{identifier}"'
