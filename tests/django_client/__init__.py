"""A real Django application writing the OLTP's six tables through its ORM, for tests only.

Django is configured only inside the processes this package starts (``manage``,
``workload``): importing this package does not import Django, so the pytest session that
drives it stays free of Django settings.
"""
