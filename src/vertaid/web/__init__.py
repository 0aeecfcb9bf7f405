"""The web application: the decision aid in the browser and the REST API (CONTRACT §5).

    >>> from vertaid.store import open_store
    >>> from vertaid.web import create_app
    >>> app = create_app(open_store())      # an ASGI application; `vertaid serve` runs it with uvicorn

Pages are rendered on the server (Jinja2, autoescaped) and enhanced with htmx, served from the package;
nothing is fetched from another site. Imported only by ``vertaid serve`` and the tests: the command
line's other commands never load FastAPI.
"""

from vertaid.web._app import SECRET_KEY_VARIABLE, app_from_environment, create_app

__all__ = ["SECRET_KEY_VARIABLE", "app_from_environment", "create_app"]
