"""Rich renderables for the reports the core returns: the only place that builds tables.

One module per command; `common` holds the pieces several share.
"""

from .benchmark import benchmark_table, benchmark_tables
from .common import fields_table, mib, protocol_text
from .evaluate import evaluation_table
from .models import models_table
from .profile import profile_rows, profile_table
from .restore import restore_summary
from .weights import (
    convert_summary,
    download_table,
    import_summary,
    remove_summary,
    verify_table,
    weights_table,
)

__all__ = [
    "benchmark_table",
    "benchmark_tables",
    "convert_summary",
    "download_table",
    "evaluation_table",
    "fields_table",
    "import_summary",
    "mib",
    "models_table",
    "profile_rows",
    "profile_table",
    "protocol_text",
    "remove_summary",
    "restore_summary",
    "verify_table",
    "weights_table",
]
