"""An app module that cannot be imported: the worker must exit 4 and the master halt with 4."""
import module_that_does_not_exist  # noqa: F401

app = None
