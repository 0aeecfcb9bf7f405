"""The logs of ``vertaid serve``: one JSON object per line on standard error, made by structlog.

Every logger goes through one formatter, structlog's ``ProcessorFormatter``: vertaid's own (stdlib
``logging`` loggers named ``vertaid.*``, with their facts passed as ``extra``), uvicorn's, and any other
library's. Each line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``event``, the facts the
caller passed, and the ``request_id`` of the request being answered (bound by the web application's
request log).

What a line never holds is decided here and in the callers, not left to chance:

- case content, bodies, query strings, headers: vertaid's request log (``vertaid.access``) gives the
  route's template, never the path or the query; uvicorn's own access log, whose lines hold the whole
  path with its query string, is off.
- an exception's message: a traceback is logged as the exception's type and the places it passed
  through (file, line, function), because a message can quote the data that caused it.
- the URLs of FHIR reads: httpx and httpcore log each request's URL (a patient's id in its query) at
  INFO, so they log warnings only.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any, Final

import structlog

__all__ = ["ACCESS_LOGGER", "configure_logging", "json_formatter", "log_config"]

ACCESS_LOGGER: Final = "vertaid.access"
"""The logger of the web application's request log: one line per request answered."""

_QUIET_LIBRARIES: Final = ("httpx", "httpcore", "alembic.runtime.plugins")
"""Libraries whose INFO lines would hold what must not be logged (the URLs they request), or only noise
(Alembic's plugins, at every start)."""

_MAX_FRAMES: Final = 30
"""The innermost frames of a traceback that are logged."""

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _exception_info(value: object) -> _ExcInfo | None:
    if value is True:
        found = sys.exc_info()
        return None if found[0] is None else found
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return value
    return None


def _without_colours(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop uvicorn's copy of its message with terminal colour codes."""
    event.pop("color_message", None)
    return event


def _exception_without_text(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace ``exc_info`` by the exception's type, its causes' types and its frames: never its
    message, which may quote a case (a ``KeyError``'s key, a ``ValueError``'s value)."""
    event.pop("stack_info", None)
    found = _exception_info(event.pop("exc_info", None))
    if found is None:
        return event
    error_type, error, trace = found
    frames = traceback.extract_tb(trace)[-_MAX_FRAMES:]
    causes: list[str] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(type(cause).__qualname__)
        cause = cause.__cause__ or cause.__context__
    event["exception"] = {
        "type": f"{error_type.__module__}.{error_type.__qualname__}",
        "causes": causes,
        "frames": [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in frames],
    }
    return event


# Run on every record that does not come from a structlog logger (stdlib's, uvicorn's, vertaid's own).
_FOREIGN_CHAIN: Final[list[Any]] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def json_formatter() -> logging.Formatter:
    """The formatter every handler uses: each record as one JSON object (see the module's text).

    Also configures structlog, so that a ``structlog.get_logger()`` logger ends in the same formatter.
    """
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_FOREIGN_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _without_colours,
            _exception_without_text,
            structlog.processors.JSONRenderer(),
        ],
    )


def log_config(*, access_log: bool = True, level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` configuration (uvicorn applies it again in each worker process).

    Args:
        access_log: log one line per request answered (``vertaid.access``).
        level: the lowest level logged.
    """
    loggers: dict[str, Any] = {
        # uvicorn's own handlers are left out: its records reach the root's JSON handler.
        "uvicorn": {"handlers": [], "propagate": True, "level": level},
        "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
        # Its lines hold the path with the query string; vertaid's request log stands in for it.
        "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        ACCESS_LOGGER: {"level": level if access_log else "WARNING"},
    }
    for library in _QUIET_LIBRARIES:
        loggers[library] = {"level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.json_formatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": loggers,
    }


def configure_logging(*, access_log: bool = True, level: str = "INFO") -> dict[str, Any]:
    """Log as JSON lines on standard error from now on, in this process; the configuration is returned
    for uvicorn to apply in its worker processes."""
    config = log_config(access_log=access_log, level=level)
    logging.config.dictConfig(config)
    return config
