"""agentOS Jobs: the Chalice application (thin: it only registers the blueprints)."""
from chalice import Chalice

from chalicelib.api import api
from chalicelib.events import events

app = Chalice(app_name="agentos-jobs")
app.register_blueprint(api)
app.register_blueprint(events)
