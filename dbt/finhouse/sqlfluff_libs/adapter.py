"""Stand-in for dbt's ``adapter`` in sqlfluff's jinja templater: ``adapter.dispatch(...)``
returns a macro that renders nothing (dispatched macros emit optional keywords or hooks),
``adapter.quote(...)`` quotes."""


def dispatch(macro_name, macro_namespace=None):  # noqa: ARG001 - dbt's signature
    def stand_in(*args, **kwargs):  # noqa: ARG001
        return ""

    return stand_in


def quote(identifier):
    """``adapter.quote(name)``: the name in double quotes, as on PostgreSQL."""
    return f'"{identifier}"'
