"""OpenLineage for the ingestion tasks, whose work the Airflow OpenLineage provider cannot see.

The provider (``apache-airflow-providers-openlineage``, configured by the environment and off
unless a transport is: docs/orchestration.md) emits an event when each task starts and ends,
with the datasets the task read and wrote when it can tell them: from an operator's
``get_openlineage_facets_on_complete``, else from what hooks reported, else from the task's
inlets and outlets. The ingestion tasks are TaskFlow functions working through psycopg, so
none of that names their tables. Here:

* :func:`lineage_task` is ``@task`` whose operator (:class:`LineageTaskOperator`, Airflow's
  documented way to a custom TaskFlow decorator) answers
  ``get_openlineage_facets_on_complete``/``…_on_failure`` with what its function reported;
* inside the function, :func:`report` names the tables it read and wrote, from the
  connections it really used: the OLTP table (``postgres://host:port``,
  ``<database>.<schema>.<table>``) and its RAW table (``<warehouse>.raw.<table>``; on
  Snowflake ``snowflake://account``, ``<DATABASE>.RAW.<TABLE>``), as the OpenLineage naming
  spec and the postgres provider's Asset converter name them - the names Cosmos' dbt events
  give the same tables, so the graph joins.

Nothing is imported from the provider until it asks (it need not be installed), and a
report costs nothing when lineage is off. Per task, not per process: the provider's hook
lineage collector would also do, but it is one per process and ``dag.test()`` (``finhouse
dags run``, the tests) runs every task in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory

from finhouse import config


@dataclass(frozen=True)
class Table:
    """A table as OpenLineage names it, and what a run did to it."""

    namespace: str
    name: str
    #: rows written, for an output (its outputStatistics facet)
    rows: int | None = None
    size_bytes: int | None = None


def table(
    dsn: str, schema: str, name: str, *, rows: int | None = None, size: int | None = None
) -> Table:
    """The table ``schema.name`` of the database ``dsn`` points at (no user, no secret)."""
    location = config.database_location(dsn, "postgres")
    namespace, database = location.rsplit("/", 1)
    if namespace.startswith("snowflake://"):
        schema, name = schema.upper(), name.upper()
    return Table(namespace, f"{database}.{schema}.{name}", rows, size)


@dataclass
class TaskLineage:
    """What one try of a task read and wrote."""

    inputs: list[Table] = field(default_factory=list)
    outputs: list[Table] = field(default_factory=list)

    def operator_lineage(self) -> Any:
        """The provider's ``OperatorLineage`` of these tables."""
        from airflow.providers.openlineage.extractors import OperatorLineage  # noqa: PLC0415
        from openlineage.client.event_v2 import InputDataset, OutputDataset  # noqa: PLC0415
        from openlineage.client.facet_v2 import (  # noqa: PLC0415
            OutputDatasetFacet,
        )
        from openlineage.client.facet_v2 import (  # noqa: PLC0415
            output_statistics_output_dataset as statistics,
        )

        outputs = []
        for t in self.outputs:
            facets: dict[str, OutputDatasetFacet] = {}
            if t.rows is not None:
                facets["outputStatistics"] = statistics.OutputStatisticsOutputDatasetFacet(
                    rowCount=t.rows, size=t.size_bytes
                )
            outputs.append(OutputDataset(namespace=t.namespace, name=t.name, outputFacets=facets))
        return OperatorLineage(
            inputs=[InputDataset(namespace=t.namespace, name=t.name) for t in self.inputs],
            outputs=outputs,
        )


class LineageTaskOperator(DecoratedOperator, PythonOperator):
    """The operator of :func:`lineage_task`: ``@task``'s (the standard provider's decorated
    Python operator), plus the OpenLineage methods, which return what the task's function
    reported through :func:`report` during this try."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}  # noqa: RUF012 - as PythonOperator
    custom_operator_name: str = "@task"

    def __init__(
        self, *, python_callable: Callable[..., Any], op_args: Any, op_kwargs: Any, **kwargs: Any
    ) -> None:
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )
        self.finhouse_lineage = TaskLineage()

    def execute(self, context: Any) -> Any:
        self.finhouse_lineage = TaskLineage()  # this try's, not an earlier one's
        return super().execute(context)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:  # noqa: ARG002 - the provider's signature
        return self.finhouse_lineage.operator_lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:  # noqa: ARG002
        return self.finhouse_lineage.operator_lineage()


def lineage_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> TaskDecorator:
    """``@task``, whose function may :func:`report` the tables it reads and writes."""
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=LineageTaskOperator,
        **kwargs,
    )


def report(context: Any, *, inputs: Iterable[Table] = (), outputs: Iterable[Table] = ()) -> None:
    """Record, for the running task's lineage events, tables it read and wrote (a task not
    made by :func:`lineage_task` has no lineage to add to: nothing happens)."""
    lineage = getattr(context["task"], "finhouse_lineage", None)
    if isinstance(lineage, TaskLineage):
        lineage.inputs.extend(inputs)
        lineage.outputs.extend(outputs)
