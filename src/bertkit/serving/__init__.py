"""The HTTP server: a model loaded once, JSON endpoints per task, micro-batched inference.

    from bertkit.serving import ServerSettings, create_app
    app = create_app("runs/sentiment", settings=ServerSettings(max_texts=32))
    # uvicorn.run(app, host="127.0.0.1", port=8000), or `bertkit serve runs/sentiment`

FastAPI and uvicorn are optional (`pip install bertkit[serve]`); they are imported only when an
app is created, so `bertkit.serving.model_task` and the settings work without them.
"""

from bertkit.serving.model_task import SERVE_TASKS, task_endpoints, task_of_folder
from bertkit.serving.settings import ServerSettings

__all__ = ["SERVE_TASKS", "ServerSettings", "create_app", "task_endpoints", "task_of_folder"]


def create_app(model, task=None, settings=None):
    """Build the FastAPI app serving `model` (a folder or known name); see `serving.app`."""
    from bertkit.serving.app import create_app as build

    return build(model, task=task, settings=settings)
