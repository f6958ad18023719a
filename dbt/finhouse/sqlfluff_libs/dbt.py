"""Stand-ins for dbt's cross-database macros (``{{ dbt.dateadd(...) }}`` etc.) so sqlfluff's
jinja templater can render models for linting without a warehouse. They only need to yield
SQL that parses like what the real macros produce on PostgreSQL."""


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + (interval '1 {datepart}') * ({interval}))"


def datediff(first_date, second_date, datepart):  # noqa: ARG001 - dbt's signature
    return f"(cast({second_date} as date) - cast({first_date} as date))"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def last_day(date, datepart):
    return (
        f"cast(date_trunc('{datepart}', {date}) + interval '1 {datepart}'"
        " - interval '1 day' as date)"
    )


def date_spine(datepart, start_date, end_date):
    return f"select generate_series({start_date}, {end_date}, interval '1 {datepart}') as date_day"


def current_timestamp():
    return "now()"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def stand_in(*args, **kwargs):
        rendered = ", ".join(str(a) for a in [*args, *kwargs.values()])
        return f"{name}({rendered})"

    return stand_in
