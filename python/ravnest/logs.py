"""One switch for every ravnest log line: `RAVNEST_LOG_LEVEL` (read at import) and `set_log_level()` set the C++
core's level and that of Python's `ravnest` loggers (ravnest.node, ravnest.clusterize, ravnest.metrics) alike.

Quiet by default: without the variable, Python's loggers follow the application's `logging` configuration
(warnings and errors when it has none). A script that configured `logging` itself keeps its handlers; a
ravnest handler on stderr is added only when nothing else would print the lines.
"""

import logging
import os

from ravnest import _C

# The C++ core's level names, as Python logging levels (Python has no trace level: debug is the closest).
_PYTHON_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                  "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
                  "off": logging.CRITICAL + 1}
_logger = logging.getLogger("ravnest")


def set_log_level(level):
    """Sets the level of every ravnest log: 'trace', 'debug', 'info', 'warn', 'error', 'critical' or 'off'.
    Raises InvalidArgumentError for another name."""
    _C.set_log_level(level)  # validates the name
    _logger.setLevel(_PYTHON_LEVELS[_C.log_level()])
    if _logger.level < logging.WARNING and not _logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(name)s] [%(levelname)s] %(message)s"))
        _logger.addHandler(handler)


def apply_environment():
    """Gives Python's loggers the level the C++ core took from RAVNEST_LOG_LEVEL (which ignores a name it does
    not know, keeping warn)."""
    if os.environ.get("RAVNEST_LOG_LEVEL"):
        set_log_level(_C.log_level())
