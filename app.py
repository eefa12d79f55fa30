"""agentOS Jobs: the Chalice application (thin: it only registers the blueprints)."""
from chalice import Chalice

from chalicelib.api import api
from chalicelib.events import events
from chalicelib.webconsole import console

app = Chalice(app_name="agentos-jobs")
app.register_blueprint(api)
app.register_blueprint(events)
app.register_blueprint(console)
